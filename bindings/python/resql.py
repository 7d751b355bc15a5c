"""resql for Python: a ctypes binding of resql's C ABI (libresql.so.1).

resql (said "rescue") audits SQLite databases: a change log (every row
inserted, updated or deleted, with a JSON diff) and a query log (every
statement, with exact parameters). See bindings/python/README.md.

    import resql

    with resql.connect("shop.db") as db:
        resql.log_changes(of=db, to="shop-audit.db", extra={"app": "billing"})
        db.execute("INSERT INTO person(name, age) VALUES (?, ?)", ("Ada", 36))

Python's own sqlite3 module does not expose its ``sqlite3 *``, so this module
opens its own connections, through the libsqlite3 that libresql is linked
with, with a small API: ``execute``, ``executemany``, ``executescript``,
``transaction()``, ``close``. The logs are ordinary SQLite tables and views:
read them with the standard ``sqlite3`` module.

No compiler is needed: only the Python standard library and the shared
library, found through (in this order) the environment variable
RESQL_LIBRARY (a path), ctypes.util.find_library("resql"), or the checkout's
build/libresql.so.1 next to this file.
"""

import atexit
import contextlib
import ctypes
import ctypes.util
import datetime
import itertools
import json
import numbers
import os
import threading
import time
import warnings
import weakref
from collections.abc import Mapping

__all__ = [
    "Connection", "Error", "Logger", "connect", "log_changes", "log_queries",
    "library_path", "library_version", "sqlite_version",
    "OK", "ERROR", "MISUSE", "NOMEM", "CANTOPEN", "EXISTS", "SQLITE_CONSTRAINT_COMMITHOOK",
]

# ---- constants ----------------------------------------------------------------

# resql's result codes (resql.h). They overlap numerically with SQLite's, so
# an Error also says which library the code comes from (Error.source).
OK = 0
ERROR = 1
MISUSE = 2
NOMEM = 3
CANTOPEN = 4
EXISTS = 6

# SQLite's extended code of a COMMIT refused by a commit hook (resql's).
SQLITE_CONSTRAINT_COMMITHOOK = 531

# The oldest libresql this binding works with: 0.1.0, the first with
# resql_commit_refusal(). The ABI is the one of the soname libresql.so.1.
MIN_VERSION_NUMBER = 1000
ABI_VERSION = 1

_SQLITE_ROW = 100
_SQLITE_DONE = 101
_SQLITE_INTEGER, _SQLITE_FLOAT, _SQLITE_TEXT, _SQLITE_BLOB, _SQLITE_NULL = 1, 2, 3, 4, 5
_SQLITE_OPEN_READONLY = 0x01
_SQLITE_OPEN_READWRITE = 0x02
_SQLITE_OPEN_CREATE = 0x04
_SQLITE_OPEN_URI = 0x40
_SQLITE_TRANSIENT = ctypes.c_void_p(-1)
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


class Error(Exception):
    """A failure reported by resql or SQLite.

    ``code`` is the result code and ``source`` says whose code it is:
    ``"resql"`` (OK, ERROR, MISUSE, NOMEM, CANTOPEN, EXISTS) or ``"sqlite"``
    (an extended SQLite result code such as SQLITE_CONSTRAINT_COMMITHOOK,
    531, when resql refused a commit). ``str(error)`` is the message
    (resql's messages start with "resql:")."""

    def __init__(self, message, code=ERROR, source="resql"):
        super().__init__(message)
        self.message = message
        self.code = code
        self.source = source


# ---- loading the library ---------------------------------------------------------

_c_void_p = ctypes.c_void_p
_c_int = ctypes.c_int
_c_int64 = ctypes.c_int64
_c_char_p = ctypes.c_char_p

_EXTRA_FN = ctypes.CFUNCTYPE(None, _c_void_p, _c_void_p)   # (resql_extra_result *, void *ctx)
_CLOCK_FN = ctypes.CFUNCTYPE(_c_int64, _c_void_p)          # sqlite3_int64 (*)(void *ctx)
_DESTROY_FN = ctypes.CFUNCTYPE(None, _c_void_p)            # void (*)(void *ctx)

# Every function this binding calls: name -> (restype, argtypes). The sqlite3_*
# ones are looked up through libresql's handle, so they come from the very
# libsqlite3 libresql is linked with (a second copy of SQLite in the process
# must never see a connection of the first).
_RESQL_FUNCTIONS = {
    "resql_version": (_c_char_p, []),
    "resql_version_number": (_c_int, []),
    "resql_errmsg": (_c_char_p, [_c_void_p]),
    "resql_commit_refusal": (_c_char_p, [_c_void_p]),
    "resql_options_new": (_c_int, [ctypes.POINTER(_c_void_p)]),
    "resql_options_free": (None, [_c_void_p]),
    "resql_options_include_table": (_c_int, [_c_void_p, _c_char_p]),
    "resql_options_exclude_table": (_c_int, [_c_void_p, _c_char_p]),
    "resql_options_set_clock": (_c_int, [_c_void_p, _CLOCK_FN, _c_void_p, _DESTROY_FN]),
    "resql_options_set_extra_json": (_c_int, [_c_void_p, _c_char_p]),
    "resql_options_set_extra_callback": (_c_int, [_c_void_p, _EXTRA_FN, _c_void_p, _DESTROY_FN]),
    "resql_options_include_reads": (_c_int, [_c_void_p, _c_int]),
    "resql_options_drop_rollbacks": (_c_int, [_c_void_p, _c_int]),
    "resql_options_set_busy_timeout": (_c_int, [_c_void_p, _c_int]),
    "resql_extra_json": (_c_int, [_c_void_p, _c_char_p]),
    "resql_extra_error": (_c_int, [_c_void_p, _c_char_p]),
    "resql_log_changes": (_c_int, [_c_void_p, _c_char_p, _c_void_p, ctypes.POINTER(_c_void_p)]),
    "resql_log_queries": (_c_int, [_c_void_p, _c_char_p, _c_void_p, ctypes.POINTER(_c_void_p)]),
    "resql_logger_refresh": (_c_int, [_c_void_p]),
    "resql_logger_set_extra_json": (_c_int, [_c_void_p, _c_char_p]),
    "resql_logger_set_extra_callback": (_c_int, [_c_void_p, _EXTRA_FN, _c_void_p, _DESTROY_FN]),
    "resql_logger_close": (_c_int, [_c_void_p]),
    "resql_logger_free": (None, [_c_void_p]),
    "resql_bind_null": (_c_int, [_c_void_p, _c_int]),
    "resql_bind_int64": (_c_int, [_c_void_p, _c_int, _c_int64]),
    "resql_bind_double": (_c_int, [_c_void_p, _c_int, ctypes.c_double]),
    "resql_bind_text": (_c_int, [_c_void_p, _c_int, _c_char_p, _c_int, _c_void_p]),
    "resql_bind_blob": (_c_int, [_c_void_p, _c_int, _c_char_p, _c_int, _c_void_p]),
}
_SQLITE_FUNCTIONS = {
    "sqlite3_libversion": (_c_char_p, []),
    "sqlite3_open_v2": (_c_int, [_c_char_p, ctypes.POINTER(_c_void_p), _c_int, _c_char_p]),
    "sqlite3_close_v2": (_c_int, [_c_void_p]),
    "sqlite3_errmsg": (_c_char_p, [_c_void_p]),
    "sqlite3_errstr": (_c_char_p, [_c_int]),
    "sqlite3_extended_errcode": (_c_int, [_c_void_p]),
    "sqlite3_extended_result_codes": (_c_int, [_c_void_p, _c_int]),
    "sqlite3_busy_timeout": (_c_int, [_c_void_p, _c_int]),
    "sqlite3_prepare_v2": (_c_int, [_c_void_p, _c_void_p, _c_int, ctypes.POINTER(_c_void_p),
                                    ctypes.POINTER(_c_void_p)]),
    "sqlite3_step": (_c_int, [_c_void_p]),
    "sqlite3_reset": (_c_int, [_c_void_p]),
    "sqlite3_clear_bindings": (_c_int, [_c_void_p]),
    "sqlite3_finalize": (_c_int, [_c_void_p]),
    "sqlite3_bind_parameter_count": (_c_int, [_c_void_p]),
    "sqlite3_bind_parameter_name": (_c_char_p, [_c_void_p, _c_int]),
    "sqlite3_column_count": (_c_int, [_c_void_p]),
    "sqlite3_column_type": (_c_int, [_c_void_p, _c_int]),
    "sqlite3_column_int64": (_c_int64, [_c_void_p, _c_int]),
    "sqlite3_column_double": (ctypes.c_double, [_c_void_p, _c_int]),
    "sqlite3_column_text": (_c_void_p, [_c_void_p, _c_int]),
    "sqlite3_column_blob": (_c_void_p, [_c_void_p, _c_int]),
    "sqlite3_column_bytes": (_c_int, [_c_void_p, _c_int]),
    "sqlite3_changes": (_c_int, [_c_void_p]),
    "sqlite3_total_changes": (_c_int, [_c_void_p]),
    "sqlite3_last_insert_rowid": (_c_int64, [_c_void_p]),
    "sqlite3_get_autocommit": (_c_int, [_c_void_p]),
    "sqlite3_db_filename": (_c_char_p, [_c_void_p, _c_char_p]),
}
_OPTIONAL_SQLITE_FUNCTIONS = {   # newer SQLite only; a fallback is used without them
    "sqlite3_changes64": (_c_int64, [_c_void_p]),
    "sqlite3_total_changes64": (_c_int64, [_c_void_p]),
}


def _candidates():
    """(path, how it was found) of the libraries to try, in order."""
    env = os.environ.get("RESQL_LIBRARY")
    if env:
        return [(env, "RESQL_LIBRARY")]     # asked for: nothing else is tried
    found = []
    name = ctypes.util.find_library("resql")
    if name:
        found.append((name, 'ctypes.util.find_library("resql")'))
    here = os.path.dirname(os.path.abspath(__file__))
    found.append((os.path.join(here, os.pardir, os.pardir, "build", "libresql.so.1"),
                  "the checkout's build directory"))
    return found


def _load():
    reasons = []
    for path, how in _candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            reasons.append("%s (%s): cannot be loaded: %s" % (path, how, e))
            continue
        try:
            lib.resql_version
            lib.resql_version_number
        except AttributeError:
            reasons.append("%s (%s): not libresql (it has no resql_version)" % (path, how))
            continue
        lib.resql_version.restype = _c_char_p
        lib.resql_version.argtypes = []
        lib.resql_version_number.restype = _c_int
        lib.resql_version_number.argtypes = []
        version = lib.resql_version().decode("ascii", "replace")
        number = lib.resql_version_number()
        missing = [n for n in list(_RESQL_FUNCTIONS) + list(_SQLITE_FUNCTIONS) if not hasattr(lib, n)]
        if number < MIN_VERSION_NUMBER or missing:
            reasons.append("%s (%s): libresql %s is too old (this binding needs %d.%d.%d or newer%s)"
                           % (path, how, version, MIN_VERSION_NUMBER // 1000000,
                              MIN_VERSION_NUMBER // 1000 % 1000, MIN_VERSION_NUMBER % 1000,
                              "; it lacks " + ", ".join(missing) if missing else ""))
            continue
        for table in (_RESQL_FUNCTIONS, _SQLITE_FUNCTIONS):
            for fname, (restype, argtypes) in table.items():
                f = getattr(lib, fname)
                f.restype = restype
                f.argtypes = argtypes
        for fname, (restype, argtypes) in _OPTIONAL_SQLITE_FUNCTIONS.items():
            if hasattr(lib, fname):
                f = getattr(lib, fname)
                f.restype = restype
                f.argtypes = argtypes
        return lib, os.path.normpath(path) if os.sep in path else path, version
    raise ImportError(
        "resql: cannot find a usable libresql shared library (ABI %d, version %d.%d.%d or newer):\n  %s\n"
        "Build it with `make` in the resql checkout, install it, or set RESQL_LIBRARY to the "
        "path of libresql.so.%d." % (ABI_VERSION, MIN_VERSION_NUMBER // 1000000,
                                     MIN_VERSION_NUMBER // 1000 % 1000, MIN_VERSION_NUMBER % 1000,
                                     "\n  ".join(reasons), ABI_VERSION))


_lib, library_path, library_version = _load()
sqlite_version = _lib.sqlite3_libversion().decode("ascii")
_changes = getattr(_lib, "sqlite3_changes64", _lib.sqlite3_changes)
_total_changes = getattr(_lib, "sqlite3_total_changes64", _lib.sqlite3_total_changes)


def _text(ptr_bytes, default=""):
    if ptr_bytes is None:
        return default
    return ptr_bytes.decode("utf-8", "replace")


def _resql_error(code, logger_ptr=None):
    return Error(_text(_lib.resql_errmsg(logger_ptr)), code, "resql")


# ---- callbacks ------------------------------------------------------------------
#
# C calls three module-level trampolines, which are never freed (see _immortal),
# with a `ctx` that is a token into _callbacks. An entry stays there until resql
# calls the destructor for its token, i.e. exactly as long as C may call it,
# even when a transaction still holds a replaced callback or setup failed.

_callbacks = {}
_callbacks_lock = threading.Lock()
_tokens = itertools.count(1)


class _Callback(object):
    __slots__ = ("fn", "owner", "__weakref__")

    def __init__(self, fn, owner):
        self.fn = fn
        self.owner = owner      # a weakref to the Connection (for exception chaining)


def _register(fn, conn):
    token = next(_tokens)
    with _callbacks_lock:
        _callbacks[token] = _Callback(fn, weakref.ref(conn))
    return _c_void_p(token)


def _destroy(ctx):
    try:
        with _callbacks_lock:
            _callbacks.pop(ctx, None)
    except BaseException:       # never let anything cross into C (also at shutdown)
        pass


def _extra_answer(result, value):
    """Answers a resql_extra_result with `value`, what the Python callable returned."""
    if value is None:
        return                  # no extra for this transaction
    _lib.resql_extra_json(result, _encode_extra(value, "the extra callable's result").encode("utf-8"))


def _extra_trampoline(result, ctx):
    try:
        entry = _callbacks.get(ctx)
        if entry is None:
            _lib.resql_extra_error(result, b"the Python extra callable was released")
            return
        conn = entry.owner()
        if conn is not None:
            conn._in_callback += 1      # close() must not run under the callback
        try:
            _extra_answer(result, entry.fn())
        except BaseException as e:      # reported through resql, never raised into C
            conn = entry.owner()
            if conn is not None:
                conn._callback_error = e
            message = "%s: %s" % (type(e).__name__, e) if str(e) else type(e).__name__
            _lib.resql_extra_error(result, message.encode("utf-8", "replace"))
        finally:
            if conn is not None:
                conn._in_callback -= 1
    except BaseException:
        pass


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def _clock_value(value):
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        delta = value - _EPOCH
        return (delta.days * 86400 + delta.seconds) * 1000000 + delta.microseconds
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = int(value)
        if _INT64_MIN <= value <= _INT64_MAX:
            return value
    raise TypeError("the clock must return microseconds since 1970 (an int) or a datetime, not %r"
                    % (value,))


def _clock_trampoline(ctx):
    try:
        entry = _callbacks.get(ctx)
        try:
            return _clock_value(entry.fn())
        except BaseException as e:
            # resql's clock cannot fail: use the system clock, and say so.
            try:
                warnings.warn("resql: the clock callable failed (%s: %s); the system clock was used"
                              % (type(e).__name__, e), RuntimeWarning)
            except BaseException:
                pass
            return time.time_ns() // 1000
    except BaseException:
        return 0


def _immortal(obj):
    """Keeps `obj` alive until the process ends, also through interpreter
    shutdown, when C may still call a trampoline (a connection closed by the
    garbage collector)."""
    try:
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))
    except AttributeError:      # not CPython: the module reference has to do
        pass
    return obj


_EXTRA_TRAMPOLINE = _immortal(_EXTRA_FN(_extra_trampoline))
_CLOCK_TRAMPOLINE = _immortal(_CLOCK_FN(_clock_trampoline))
_DESTROY_TRAMPOLINE = _immortal(_DESTROY_FN(_destroy))


# ---- arguments --------------------------------------------------------------------

def _encode_extra(extra, what="extra"):
    """The JSON text of a dict `extra`; TypeError / ValueError for anything else."""
    if not isinstance(extra, Mapping):
        raise TypeError("resql: %s must be a dict, a callable or None, not %s"
                        % (what, type(extra).__name__))
    try:
        text = json.dumps(dict(extra), allow_nan=False, ensure_ascii=False, separators=(",", ":"))
        text.encode("utf-8")
    except (TypeError, ValueError, UnicodeError, RecursionError) as e:
        cls = TypeError if isinstance(e, TypeError) else ValueError
        raise cls("resql: %s cannot be encoded as JSON: %s" % (what, e)) from e
    return text


def _extra_spec(extra):
    """None, ("json", text) or ("callable", fn): checked before anything changes."""
    if extra is None:
        return None
    if callable(extra) and not isinstance(extra, Mapping):
        return ("callable", extra)
    return ("json", _encode_extra(extra))


def _table_names(names, what):
    if names is None:
        return []
    if isinstance(names, (str, bytes)):
        raise TypeError("resql: %s must be a list of table names, not a single string" % what)
    try:
        names = list(names)
    except TypeError:
        raise TypeError("resql: %s must be a list of table names, not %s"
                        % (what, type(names).__name__)) from None
    for name in names:
        if not isinstance(name, str):
            raise TypeError("resql: %s must be a list of table names (str), got %r" % (what, name))
    return [n.encode("utf-8") for n in names]


def _path_bytes(path, what):
    try:
        raw = os.fsencode(path)
    except TypeError:
        raise TypeError("resql: %s must be a path (str, bytes or os.PathLike), not %s"
                        % (what, type(path).__name__)) from None
    if b"\0" in raw:           # SQLite would stop reading the name there
        raise ValueError("resql: %s contains a NUL character" % what)
    return raw


# ---- connections -----------------------------------------------------------------

_open_connections = weakref.WeakSet()


class Connection(object):
    """A SQLite connection opened through libsqlite3, which resql can log.

    Values come back with their SQLite storage class: None, int (64-bit),
    float, str (TEXT; invalid UTF-8 decoded with 'surrogateescape', so it
    binds back to the same bytes) and bytes (BLOB). Parameters are bound with
    resql_bind_*, so the query log records them exactly.

    A Connection is thread-safe (calls are serialised by a lock) and closes
    itself, and its loggers, when it is garbage collected."""

    def __init__(self, path, timeout=5.0, readonly=False):
        self._db = None
        self._lock = threading.RLock()
        self._in_callback = 0       # an extra callable of this connection is running
        self._loggers = []
        self._callback_error = None
        self._savepoints = itertools.count(1)
        if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not 0 <= timeout <= 2147483:
            raise ValueError("resql: timeout must be seconds from 0 to 2147483, not %r" % (timeout,))
        raw = _path_bytes(path, "path")
        flags = _SQLITE_OPEN_URI | (_SQLITE_OPEN_READONLY if readonly
                                    else _SQLITE_OPEN_READWRITE | _SQLITE_OPEN_CREATE)
        handle = _c_void_p()
        rc = _lib.sqlite3_open_v2(raw, ctypes.byref(handle), flags, None)
        if rc != 0:
            message = _text(_lib.sqlite3_errmsg(handle) if handle.value else _lib.sqlite3_errstr(rc))
            _lib.sqlite3_close_v2(handle)
            raise Error("cannot open %r: %s" % (os.fsdecode(raw), message), rc, "sqlite")
        self._db = handle
        self.path = os.fsdecode(raw)
        _lib.sqlite3_extended_result_codes(handle, 1)
        _lib.sqlite3_busy_timeout(handle, int(timeout * 1000))
        _open_connections.add(self)

    # -- state -------------------------------------------------------------------

    def __repr__(self):
        return "<resql.Connection %r%s>" % (self.path, " (closed)" if self._db is None else "")

    def _handle(self):
        if self._db is None:
            raise Error("resql: the connection is closed", MISUSE, "resql")
        return self._db

    @property
    def closed(self):
        return self._db is None

    @property
    def in_transaction(self):
        """True inside BEGIN ... COMMIT / ROLLBACK."""
        return not _lib.sqlite3_get_autocommit(self._handle())

    @property
    def changes(self):
        """Rows changed by the last INSERT, UPDATE or DELETE (sqlite3_changes)."""
        return _changes(self._handle())

    @property
    def total_changes(self):
        return _total_changes(self._handle())

    @property
    def last_insert_rowid(self):
        return _lib.sqlite3_last_insert_rowid(self._handle())

    @property
    def filename(self):
        """The file of the "main" database ("" for an in-memory database)."""
        return _text(_lib.sqlite3_db_filename(self._handle(), b"main"))

    @property
    def loggers(self):
        """The open loggers of this connection."""
        return list(self._loggers)

    # -- errors ------------------------------------------------------------------

    def _error(self, rc):
        """The Error of a failed sqlite3_* call that returned rc."""
        db = self._db
        message = None
        if rc == SQLITE_CONSTRAINT_COMMITHOOK:
            message = _lib.resql_commit_refusal(db)
        if message is None:
            message = _lib.sqlite3_errmsg(db)
        error = Error(_text(message), rc, "sqlite")
        cause, self._callback_error = self._callback_error, None
        if cause is not None:
            if not isinstance(cause, Exception):     # KeyboardInterrupt, SystemExit: let it go on
                raise cause
            error.__cause__ = cause
        return error

    # -- statements --------------------------------------------------------------

    def _bind_one(self, stmt, i, value):
        if value is None:
            rc = _lib.resql_bind_null(stmt, i)
        elif isinstance(value, numbers.Integral):
            value = int(value)
            if not _INT64_MIN <= value <= _INT64_MAX:
                raise OverflowError("resql: parameter %d does not fit in a 64-bit INTEGER: %d" % (i, value))
            rc = _lib.resql_bind_int64(stmt, i, value)
        elif isinstance(value, numbers.Real):
            rc = _lib.resql_bind_double(stmt, i, float(value))
        elif isinstance(value, str):
            data = value.encode("utf-8", "surrogateescape")
            if len(data) > 0x7FFFFFFF:
                raise OverflowError("resql: parameter %d is too long" % i)
            rc = _lib.resql_bind_text(stmt, i, data, len(data), _SQLITE_TRANSIENT)
        elif isinstance(value, (bytes, bytearray, memoryview)):
            data = bytes(value)
            if len(data) > 0x7FFFFFFF:
                raise OverflowError("resql: parameter %d is too long" % i)
            rc = _lib.resql_bind_blob(stmt, i, data, len(data), _SQLITE_TRANSIENT)
        else:
            raise TypeError("resql: parameter %d has an unsupported type: %s (use None, int, float, "
                            "str, bytes)" % (i, type(value).__name__))
        if rc != 0:
            raise self._error(rc)

    def _bind(self, stmt, params):
        count = _lib.sqlite3_bind_parameter_count(stmt)
        if params is None:
            params = ()
        if isinstance(params, Mapping):
            for i in range(1, count + 1):
                name = _lib.sqlite3_bind_parameter_name(stmt, i)
                if name is None or name.startswith(b"?"):
                    raise ValueError("resql: parameter %d is not named (%s); pass a sequence"
                                     % (i, _text(name, "?")))
                name = name.decode("utf-8")
                if name[1:] in params:
                    value = params[name[1:]]
                elif name in params:
                    value = params[name]
                else:
                    raise ValueError("resql: no value for the parameter %s" % name)
                self._bind_one(stmt, i, value)
            return
        if isinstance(params, (str, bytes, bytearray)):
            raise TypeError("resql: params must be a sequence or a dict, not %s" % type(params).__name__)
        try:
            params = list(params)
        except TypeError:
            raise TypeError("resql: params must be a sequence or a dict, not %s"
                            % type(params).__name__) from None
        if len(params) != count:
            raise ValueError("resql: the statement takes %d parameter%s, %d given"
                             % (count, "" if count == 1 else "s", len(params)))
        for i, value in enumerate(params, 1):
            self._bind_one(stmt, i, value)

    @staticmethod
    def _column(stmt, i):
        kind = _lib.sqlite3_column_type(stmt, i)
        if kind == _SQLITE_INTEGER:
            return _lib.sqlite3_column_int64(stmt, i)
        if kind == _SQLITE_FLOAT:
            return _lib.sqlite3_column_double(stmt, i)
        if kind == _SQLITE_TEXT:
            ptr = _lib.sqlite3_column_text(stmt, i)
            size = _lib.sqlite3_column_bytes(stmt, i)
            return ctypes.string_at(ptr, size).decode("utf-8", "surrogateescape") if ptr else ""
        if kind == _SQLITE_BLOB:
            ptr = _lib.sqlite3_column_blob(stmt, i)
            size = _lib.sqlite3_column_bytes(stmt, i)
            return ctypes.string_at(ptr, size) if ptr and size else b""
        return None

    def _prepare(self, buf, offset, end):
        """Prepares the statement of buf[offset:end]: (stmt or None, offset after it)."""
        stmt, tail = _c_void_p(), _c_void_p()
        base = ctypes.addressof(buf)
        rc = _lib.sqlite3_prepare_v2(self._db, base + offset, end - offset,
                                     ctypes.byref(stmt), ctypes.byref(tail))
        if rc != 0:
            raise self._error(rc)
        return (stmt if stmt.value else None), (tail.value - base if tail.value else end)

    def _run(self, stmt, want_rows):
        """Steps stmt to its end: the list of rows (tuples) when want_rows."""
        rows = [] if want_rows else None
        columns = _lib.sqlite3_column_count(stmt)
        while True:
            rc = _lib.sqlite3_step(stmt)
            if rc == _SQLITE_DONE:
                return rows
            if rc != _SQLITE_ROW:
                raise self._error(rc)
            if want_rows:
                rows.append(tuple(self._column(stmt, i) for i in range(columns)))

    @staticmethod
    def _sql(sql):
        if not isinstance(sql, str):
            raise TypeError("resql: sql must be a str, not %s" % type(sql).__name__)
        data = sql.encode("utf-8")
        return ctypes.create_string_buffer(data, len(data) + 1), data

    def _begin_call(self):
        self._handle()
        if not self.in_transaction:
            # A callback's exception is kept (to chain it to the Error it
            # causes) until its transaction ends; a new one starts clean.
            self._callback_error = None

    def _prepare_one(self, buf, data, what):
        """Prepares the only statement of `data`: stmt or None (nothing to run)."""
        end = len(data)
        stmt, rest = self._prepare(buf, 0, end)
        if stmt is None or not data[rest:].strip():
            return stmt
        try:
            more, _ = self._prepare(buf, rest, end)
        except Error:
            more = True             # not even valid SQL, but more than one statement
        if more is not None:
            if more is not True:
                _lib.sqlite3_finalize(more)
            _lib.sqlite3_finalize(stmt)
            raise ValueError("resql: %s() runs one statement; use executescript() for several" % what)
        return stmt

    def execute(self, sql, params=()):
        """Runs one statement with `params` (a sequence for ?, ?NNN; a dict
        for :name, @name, $name). Returns the list of rows (tuples) for a
        statement that returns columns (SELECT, ... RETURNING, PRAGMA), None
        otherwise. Raises Error on failure."""
        buf, data = self._sql(sql)
        with self._lock:
            self._begin_call()
            stmt = self._prepare_one(buf, data, "execute")
            if stmt is None:
                return None
            try:
                self._bind(stmt, params)
                return self._run(stmt, _lib.sqlite3_column_count(stmt) > 0)
            finally:
                _lib.sqlite3_finalize(stmt)

    def executemany(self, sql, seq_of_params):
        """Runs one statement once per item of `seq_of_params` (prepared once;
        each run is its own record in the query log). Returns None."""
        buf, data = self._sql(sql)
        with self._lock:
            self._begin_call()
            stmt = self._prepare_one(buf, data, "executemany")
            if stmt is None:
                return None
            try:
                for params in seq_of_params:
                    _lib.sqlite3_reset(stmt)
                    _lib.sqlite3_clear_bindings(stmt)
                    self._begin_call()
                    self._bind(stmt, params)
                    self._run(stmt, False)
            finally:
                _lib.sqlite3_finalize(stmt)
        return None

    def executescript(self, sql):
        """Runs every statement of `sql` in turn (no parameters); stops at the
        first failure, raising Error (the statements before it stay done)."""
        buf, data = self._sql(sql)
        end = len(data)
        with self._lock:
            offset = 0
            while offset < end:
                self._begin_call()
                stmt, offset = self._prepare(buf, offset, end)
                if stmt is None:
                    break
                try:
                    self._run(stmt, False)
                finally:
                    _lib.sqlite3_finalize(stmt)
        return None

    @contextlib.contextmanager
    def transaction(self, mode=""):
        """BEGIN [mode] ... COMMIT, or ROLLBACK when the block raises (the
        exception goes on). Nested in an open transaction, it is a SAVEPOINT.
        A COMMIT that fails (resql refusing it, say) raises Error and leaves
        no transaction open."""
        if mode not in ("", "DEFERRED", "IMMEDIATE", "EXCLUSIVE"):
            raise ValueError("resql: transaction mode must be DEFERRED, IMMEDIATE or EXCLUSIVE")
        with self._lock:
            if self.in_transaction:
                name = "resql_py_%d" % next(self._savepoints)
                self.execute("SAVEPOINT " + name)
                try:
                    yield self
                except BaseException:
                    if self.in_transaction:
                        self.execute("ROLLBACK TO " + name)
                        self.execute("RELEASE " + name)
                    raise
                self.execute("RELEASE " + name)
                return
            self.execute(("BEGIN " + mode).strip())
            try:
                yield self
            except BaseException:
                if self._db is not None and self.in_transaction:
                    with contextlib.suppress(Error):
                        self.execute("ROLLBACK")
                raise
            try:
                self.execute("COMMIT")
            except BaseException:
                if self._db is not None and self.in_transaction:
                    with contextlib.suppress(Error):
                        self.execute("ROLLBACK")
                raise

    # -- closing ------------------------------------------------------------------

    def close(self):
        """Frees the connection's loggers, then closes it. Idempotent. Not from
        inside an extra callable (Error): the connection is in use there."""
        with self._lock:
            if self._db is None:
                return
            if self._in_callback:
                raise Error("resql: cannot close the connection from inside a resql callback",
                            MISUSE, "resql")
            for logger in list(self._loggers):
                logger._free()
            db, self._db = self._db, None
            _open_connections.discard(self)
            rc = _lib.sqlite3_close_v2(db)
            if rc != 0:
                raise Error("resql: closing the connection failed (%d)" % rc, rc, "sqlite")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            self.close()
        except BaseException:
            pass


def connect(path, timeout=5.0, readonly=False):
    """Opens (creating it unless readonly) the SQLite database at `path` (a
    path, a "file:" URI or ":memory:"). `timeout`: seconds to wait for a lock."""
    return Connection(path, timeout=timeout, readonly=readonly)


@atexit.register
def _close_all():
    for conn in list(_open_connections):
        try:
            conn.close()
        except BaseException:
            pass


# ---- loggers ---------------------------------------------------------------------

class Logger(object):
    """A change log or query log of one connection (see log_changes and
    log_queries). It lives as long as its connection unless closed: the
    connection keeps it, so dropping the Logger object does not stop logging."""

    def __init__(self, kind, conn, ptr):
        self.kind = kind        # "changes" or "queries"
        self._conn = conn
        self._ptr = ptr

    def __repr__(self):
        return "<resql.Logger of %s%s>" % (self.kind, " (closed)" if self._ptr is None else "")

    @property
    def closed(self):
        return self._ptr is None

    @property
    def connection(self):
        return self._conn

    def _handle(self):
        if self._ptr is None:
            raise Error("resql: the logger is closed", MISUSE, "resql")
        return self._ptr

    def errmsg(self):
        """resql's last message for this logger (resql_errmsg)."""
        return _text(_lib.resql_errmsg(self._ptr)) if self._ptr is not None else "not an error"

    def set_extra(self, extra):
        """Changes `extra` from the next transaction on: a dict, a callable
        returning a dict (or None), or None for no extra."""
        spec = _extra_spec(extra)
        with self._conn._lock:
            ptr = self._handle()
            if spec is None:
                rc = _lib.resql_logger_set_extra_json(ptr, None)
            elif spec[0] == "json":
                rc = _lib.resql_logger_set_extra_json(ptr, spec[1].encode("utf-8"))
            else:
                rc = _lib.resql_logger_set_extra_callback(ptr, _EXTRA_TRAMPOLINE,
                                                          _register(spec[1], self._conn),
                                                          _DESTROY_TRAMPOLINE)
            if rc != OK:
                raise _resql_error(rc, ptr)

    def refresh(self):
        """Re-reads the schema (only needed after another connection created a table)."""
        with self._conn._lock:
            ptr = self._handle()
            rc = _lib.resql_logger_refresh(ptr)
            if rc != OK:
                raise _resql_error(rc, ptr)

    def close(self):
        """Stops logging and restores the connection as it was. Must be called
        outside a transaction (else Error, and the logger stays open).
        Idempotent."""
        with self._conn._lock:
            if self._ptr is None:
                return
            rc = _lib.resql_logger_close(self._ptr)
            if rc != OK:
                raise _resql_error(rc, self._ptr)
            self._free()

    def _free(self):
        ptr, self._ptr = self._ptr, None
        if ptr is not None:
            _lib.resql_logger_free(ptr)     # calls the destructors: _callbacks entries go
            with contextlib.suppress(ValueError):
                self._conn._loggers.remove(self)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            with self._conn._lock:
                try:
                    self.close()
                except Error:
                    self._free()        # inside a transaction that is failing: make it inert
        return False


def _target(of, to, what):
    """`to` as resql takes it: None (the logged database itself) or bytes."""
    if to is None or to is of:
        return None
    if isinstance(to, Connection):
        name = to.filename
        if not name:
            raise ValueError("resql: %s: to is an in-memory connection, which cannot be shared; "
                             "pass a path" % what)
        return os.fsencode(name)
    raw = _path_bytes(to, "%s: to" % what)
    if not raw:
        raise ValueError("resql: %s: to is an empty path" % what)
    return raw


def _check_of(of, what):
    if not isinstance(of, Connection):
        raise TypeError("resql: %s: of must be a resql.Connection (from resql.connect), not %s"
                        % (what, type(of).__name__))
    of._handle()


def _start(kind, of, to, extra, tables=None, exclude=None, clock=None, include_reads=False,
           drop_rollbacks=False, busy_timeout=None):
    """Builds the options, starts the logger. Every argument is checked before
    resql is called, so bad input changes nothing."""
    if clock is not None and not callable(clock):
        raise TypeError("resql: clock must be a callable, not %s" % type(clock).__name__)
    if busy_timeout is not None and (isinstance(busy_timeout, bool)
                                     or not isinstance(busy_timeout, numbers.Integral)
                                     or not 0 <= busy_timeout <= 0x7FFFFFFF):
        raise ValueError("resql: busy_timeout must be a number of milliseconds >= 0")
    extra = _extra_spec(extra)
    tables = _table_names(tables, "tables")
    exclude = _table_names(exclude, "exclude")
    with of._lock:
        db = of._handle()
        opts = _c_void_p()
        rc = _lib.resql_options_new(ctypes.byref(opts))
        if rc != OK:
            raise _resql_error(rc)
        try:
            calls = [(_lib.resql_options_include_table, name) for name in tables]
            calls += [(_lib.resql_options_exclude_table, name) for name in exclude]
            if extra is not None and extra[0] == "json":
                calls.append((_lib.resql_options_set_extra_json, extra[1].encode("utf-8")))
            if include_reads:
                calls.append((_lib.resql_options_include_reads, 1))
            if drop_rollbacks:
                calls.append((_lib.resql_options_drop_rollbacks, 1))
            if busy_timeout is not None:
                calls.append((_lib.resql_options_set_busy_timeout, int(busy_timeout)))
            for call, arg in calls:
                rc = call(opts, arg)
                if rc != OK:
                    raise _resql_error(rc)
            if extra is not None and extra[0] == "callable":
                rc = _lib.resql_options_set_extra_callback(opts, _EXTRA_TRAMPOLINE, _register(extra[1], of),
                                                           _DESTROY_TRAMPOLINE)
                if rc != OK:
                    raise _resql_error(rc)
            if clock is not None:
                rc = _lib.resql_options_set_clock(opts, _CLOCK_TRAMPOLINE, _register(clock, of),
                                                  _DESTROY_TRAMPOLINE)
                if rc != OK:
                    raise _resql_error(rc)
            ptr = _c_void_p()
            start = _lib.resql_log_changes if kind == "changes" else _lib.resql_log_queries
            rc = start(db, to, opts, ctypes.byref(ptr))
            if rc != OK:
                raise _resql_error(rc)
        finally:
            _lib.resql_options_free(opts)
        logger = Logger(kind, of, ptr)
        of._loggers.append(logger)
        return logger


def log_changes(of, to=None, extra=None, tables=None, exclude=None, clock=None):
    """Starts the change log of connection `of`: every committed row change
    of its audited tables, with a JSON diff, written by the same statement as
    the change (resql_log_changes).

    to:      None (or `of`) keeps the log tables in `of`'s own database; a path
             or "file:" URI (or another Connection: its file) puts them there.
    extra:   a dict stored with every transaction, or a callable called once
             per transaction (at its first log row) that returns a dict or
             None; an exception in it fails the application's statement.
    tables:  audit only these tables; exclude: never these.
    clock:   a callable returning microseconds since 1970 (an int) or a
             datetime, instead of the system clock (for tests).

    Must be called outside a transaction. Returns a Logger; raises Error
    (resql's message) or TypeError / ValueError for bad arguments, in which
    case nothing has changed."""
    _check_of(of, "log_changes")
    target = _target(of, to, "log_changes")
    return _start("changes", of, target, extra, tables=tables, exclude=exclude, clock=clock)


def log_queries(of, to, extra=None, include_reads=False, drop_rollbacks=False, clock=None,
                busy_timeout=None):
    """Starts the query log of connection `of` into the database `to` (a path,
    a "file:" URI or another Connection; never `of` itself): every statement
    with its kind, text, exact parameters, time, duration, rows changed,
    `extra` and its transaction's outcome (resql_log_queries).

    include_reads:  also log SELECT, read-only PRAGMA and EXPLAIN.
    drop_rollbacks: leave out rolled-back transactions.
    busy_timeout:   milliseconds to wait for the log database's lock before
                    the application's COMMIT fails (default 5000).
    extra, clock:   as for log_changes; a failing extra callable makes the
                    COMMIT fail (Error with code SQLITE_CONSTRAINT_COMMITHOOK).

    Must be called outside a transaction. Returns a Logger."""
    _check_of(of, "log_queries")
    if to is None or to is of:
        raise ValueError("resql: log_queries: to must be another database (a path or a Connection)")
    target = _target(of, to, "log_queries")
    return _start("queries", of, target, extra, clock=clock, include_reads=include_reads,
                  drop_rollbacks=drop_rollbacks, busy_timeout=busy_timeout)
