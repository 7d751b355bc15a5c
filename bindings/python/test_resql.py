"""Tests of the Python binding of resql (ctypes), with the standard library only.

Run from the repository root:  python3 -m unittest discover -s bindings/python -v
(`make test-python` does that against the freshly built build/libresql.so.1.)

Every test works in a fresh temporary directory and reads the logs back with
the standard `sqlite3` module, through the views resql_change_log and
resql_query_log, decoding the JSON columns with json.loads.
"""

import contextlib
import ctypes.util
import datetime
import gc
import io
import json
import math
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import resql  # noqa: E402

FROZEN = 1700000000000000                   # microseconds since 1970
FROZEN_TEXT = "2023-11-14T22:13:20.000000Z"
PERSON = "CREATE TABLE person(id INTEGER PRIMARY KEY, name TEXT, age INTEGER)"


def frozen_clock():
    return FROZEN


class Case(unittest.TestCase):
    """A temporary directory per test; connections opened through it are
    closed (before the directory goes) even when the test fails."""

    def setUp(self):
        tmp = tempfile.TemporaryDirectory(prefix="resql-py-")
        self.addCleanup(tmp.cleanup)
        self.dir = tmp.name

    def path(self, name):
        return os.path.join(self.dir, name)

    def open(self, name="app.db"):
        db = resql.connect(self.path(name))
        self.addCleanup(db.close)
        return db

    def person_db(self, name="app.db"):
        db = self.open(name)
        db.execute(PERSON)
        return db

    # -- reading back with the standard sqlite3 module -------------------------

    def read(self, name, sql, params=()):
        with contextlib.closing(sqlite3.connect(self.path(name))) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(row) for row in conn.execute(sql, params)]

    def changes(self, name="app.db"):
        rows = self.read(name, "SELECT * FROM resql_change_log ORDER BY id")
        for row in rows:
            for key in ("record_id", "prev_record_id", "diff", "extra"):
                if row[key] is not None:
                    row[key] = json.loads(row[key])
        return rows

    def queries(self, name="queries.db", kind=None):
        sql = "SELECT * FROM resql_query_log"
        if kind:
            sql += " WHERE kind = ?"
        rows = self.read(name, sql + " ORDER BY id", (kind,) if kind else ())
        for row in rows:
            row["parameters"] = json.loads(row["parameters"])
            if row["extra"] is not None:
                row["extra"] = json.loads(row["extra"])
        return rows

    def count(self, db, table):
        return db.execute("SELECT count(*) FROM %s" % table)[0][0]

    def resql_objects(self, db):
        """resql's objects in the connection's TEMP schema and main schema."""
        return db.execute("SELECT name FROM sqlite_temp_master WHERE name LIKE 'resql%' "
                          "UNION ALL SELECT name FROM sqlite_master WHERE name LIKE 'resql%'")


# ---------------------------------------------------------------------------
# The library
# ---------------------------------------------------------------------------

class LibraryTest(Case):
    def import_with(self, env=None, patch=None):
        """Imports resql in a fresh interpreter: (returncode, stderr)."""
        code = "import sys; sys.path.insert(0, %r); " % HERE
        if patch:
            code += ("import types; src = open(%r).read().replace(%r, %r); "
                     "m = types.ModuleType('resql'); m.__file__ = %r; exec(compile(src, 'resql.py', 'exec'), m.__dict__)"
                     % (os.path.join(HERE, "resql.py"), patch[0], patch[1], os.path.join(HERE, "resql.py")))
        else:
            code += "import resql"
        environ = dict(os.environ)
        environ.pop("RESQL_LIBRARY", None)
        environ.update(env or {})
        proc = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True)
        return proc.returncode, proc.stderr

    def test_versions(self):
        self.assertRegex(resql.library_version, r"^\d+\.\d+\.\d+")
        self.assertRegex(resql.sqlite_version, r"^3\.\d+\.\d+")
        self.assertTrue(os.path.exists(resql.library_path) or "/" not in resql.library_path)

    def test_missing_library_fails_clearly(self):
        rc, err = self.import_with({"RESQL_LIBRARY": self.path("nowhere/libresql.so.1")})
        self.assertNotEqual(rc, 0)
        self.assertIn("ImportError", err)
        self.assertIn("nowhere/libresql.so.1 (RESQL_LIBRARY): cannot be loaded", err)
        self.assertIn("set RESQL_LIBRARY", err)

    def test_a_library_that_is_not_resql_fails_clearly(self):
        sqlite = ctypes.util.find_library("sqlite3")
        if not sqlite:
            self.skipTest("no libsqlite3 found by ctypes.util.find_library")
        rc, err = self.import_with({"RESQL_LIBRARY": sqlite})
        self.assertNotEqual(rc, 0)
        self.assertIn("not libresql (it has no resql_version)", err)

    def test_a_library_that_is_too_old_fails_clearly(self):
        rc, err = self.import_with(patch=("MIN_VERSION_NUMBER = 1000", "MIN_VERSION_NUMBER = 99000000"))
        self.assertNotEqual(rc, 0)
        self.assertRegex(err, r"libresql \d+\.\d+\.\d+ is too old \(this binding needs 99\.0\.0 or newer")

    def test_the_environment_variable_wins(self):
        rc, err = self.import_with({"RESQL_LIBRARY": resql.library_path})
        self.assertEqual(rc, 0, err)


# ---------------------------------------------------------------------------
# Connections: the small execute API
# ---------------------------------------------------------------------------

class ConnectionTest(Case):
    def test_values_keep_their_storage_class(self):
        db = self.open()
        db.execute("CREATE TABLE v(x)")
        big = bytes(range(256)) * 4096     # 1 MiB
        values = [None, 0, -(1 << 63), (1 << 63) - 1, 1.0, -0.0, 0.1 + 0.2, 1e308, 5e-324,
                  math.inf, -math.inf, "", "it's \"quoted\" \\ and \x00 NUL", "\U0001F600 ok",
                  "bad utf-8 \udcff\udcfe", b"", b"\x00\xff", big]
        db.executemany("INSERT INTO v(x) VALUES (?)", [(v,) for v in values])
        rows = db.execute("SELECT x, typeof(x) FROM v ORDER BY rowid")
        self.assertEqual(len(rows), len(values))
        for (got, kind), want in zip(rows, values):
            self.assertEqual(type(got), type(want), (got, want))
            self.assertEqual(got, want)
            if isinstance(want, float):
                self.assertEqual(math.copysign(1, got), math.copysign(1, want))
        self.assertEqual([k for _, k in rows[:3]], ["null", "integer", "integer"])
        self.assertEqual(rows[-3][1], "blob")            # an empty blob is not NULL
        self.assertEqual(db.execute("SELECT length(x) FROM v WHERE x = ?", ["bad utf-8 \udcff\udcfe"]),
                         [(12,)])                          # the raw bytes were stored
        self.assertEqual(db.execute("SELECT ?, ?", [True, 2.5]), [(1, 2.5)])

    def test_parameters_positional_and_named(self):
        db = self.person_db()
        db.execute("INSERT INTO person(name, age) VALUES (?, ?)", ("Ada", 36))
        db.execute("INSERT INTO person(name, age) VALUES (:name, :age)", {"name": "Linus", "age": 21})
        db.execute("INSERT INTO person(name, age) VALUES (@name, $age)", {"@name": "Grace", "age": 85})
        db.execute("INSERT INTO person(name, age) VALUES (?2, ?1)", [10, "Ken"])
        self.assertEqual(db.execute("SELECT name, age FROM person ORDER BY id"),
                         [("Ada", 36), ("Linus", 21), ("Grace", 85), ("Ken", 10)])
        self.assertEqual(db.last_insert_rowid, 4)
        db.execute("UPDATE person SET age = age + 1")
        self.assertEqual(db.changes, 4)
        self.assertEqual(db.execute("DELETE FROM person WHERE id > ? RETURNING name", [2]),
                         [("Grace",), ("Ken",)])
        self.assertIsNone(db.execute("UPDATE person SET age = 0 WHERE 0"))
        self.assertEqual(db.execute("SELECT * FROM person WHERE 0"), [])
        self.assertIsNone(db.execute("  -- only a comment"))

    def test_bad_parameters(self):
        db = self.person_db()
        with self.assertRaisesRegex(ValueError, "takes 2 parameters, 1 given"):
            db.execute("INSERT INTO person(name, age) VALUES (?, ?)", ["x"])
        with self.assertRaisesRegex(ValueError, "no value for the parameter :age"):
            db.execute("INSERT INTO person(name, age) VALUES (:name, :age)", {"name": "x"})
        with self.assertRaisesRegex(ValueError, "parameter 1 is not named"):
            db.execute("INSERT INTO person(name) VALUES (?)", {"name": "x"})
        with self.assertRaisesRegex(OverflowError, "64-bit"):
            db.execute("SELECT ?", [1 << 63])
        with self.assertRaisesRegex(TypeError, "unsupported type: object"):
            db.execute("SELECT ?", [object()])
        with self.assertRaisesRegex(TypeError, "params must be a sequence or a dict"):
            db.execute("SELECT ?", "x")
        self.assertEqual(self.count(db, "person"), 0)

    def test_one_statement_per_execute_and_scripts(self):
        db = self.open()
        with self.assertRaisesRegex(ValueError, "execute\\(\\) runs one statement"):
            db.execute("CREATE TABLE a(x); CREATE TABLE b(x)")
        self.assertEqual(db.execute("SELECT count(*) FROM sqlite_master"), [(0,)])
        db.executescript("CREATE TABLE a(x); INSERT INTO a VALUES (1); -- done\n"
                         "INSERT INTO a VALUES (2);")
        self.assertEqual(db.execute("SELECT x FROM a ORDER BY x;  "), [(1,), (2,)])
        with self.assertRaises(resql.Error):
            db.executescript("INSERT INTO a VALUES (3); INSERT INTO nope VALUES (4); INSERT INTO a VALUES (5)")
        self.assertEqual(db.execute("SELECT x FROM a ORDER BY x"), [(1,), (2,), (3,)])

    def test_errors_carry_sqlite_message_and_code(self):
        db = self.person_db()
        with self.assertRaises(resql.Error) as caught:
            db.execute("SELEC 1")
        self.assertIn("syntax error", str(caught.exception))
        self.assertEqual((caught.exception.code, caught.exception.source), (1, "sqlite"))
        db.execute("INSERT INTO person(id, name) VALUES (1, 'a')")
        with self.assertRaises(resql.Error) as caught:
            db.execute("INSERT INTO person(id, name) VALUES (1, 'b')")
        self.assertEqual(caught.exception.code, 1555)       # SQLITE_CONSTRAINT_PRIMARYKEY
        self.assertIn("UNIQUE constraint failed: person.id", str(caught.exception))
        with self.assertRaises(resql.Error) as caught:
            resql.connect(self.path("no/such/dir/x.db"))
        self.assertIn("cannot open", str(caught.exception))
        self.assertEqual(caught.exception.source, "sqlite")

    def test_transactions(self):
        db = self.person_db()
        with db.transaction():
            self.assertTrue(db.in_transaction)
            db.execute("INSERT INTO person(name) VALUES ('kept')")
        self.assertFalse(db.in_transaction)
        with self.assertRaisesRegex(KeyError, "request failed"):
            with db.transaction("IMMEDIATE"):
                db.execute("INSERT INTO person(name) VALUES ('lost')")
                raise KeyError("request failed")
        self.assertFalse(db.in_transaction)
        with db.transaction():
            db.execute("INSERT INTO person(name) VALUES ('outer')")
            with self.assertRaises(ZeroDivisionError):
                with db.transaction():                 # a savepoint
                    db.execute("INSERT INTO person(name) VALUES ('inner')")
                    1 / 0
            with db.transaction():
                db.execute("INSERT INTO person(name) VALUES ('inner kept')")
        self.assertEqual([r[0] for r in db.execute("SELECT name FROM person ORDER BY id")],
                         ["kept", "outer", "inner kept"])

    def test_close_and_context_manager(self):
        with resql.connect(self.path("a.db")) as db:
            db.execute(PERSON)
            self.assertEqual(db.filename, os.path.realpath(self.path("a.db")))
        self.assertTrue(db.closed)
        db.close()                                      # idempotent
        with self.assertRaises(resql.Error) as caught:
            db.execute("SELECT 1")
        self.assertEqual((caught.exception.code, str(caught.exception)),
                         (resql.MISUSE, "resql: the connection is closed"))
        self.assertEqual(resql.connect(":memory:").filename, "")


# ---------------------------------------------------------------------------
# The change log: the prototype's scenarios and more
# ---------------------------------------------------------------------------

class BadConnectArgumentsTest(Case):
    def test_a_nul_in_the_path_or_a_bad_timeout_is_refused(self):
        with self.assertRaises(ValueError):
            resql.connect(self.path("a\0b.db"))
        self.assertFalse(os.path.exists(self.path("a")))
        for timeout in (None, -1, 1e10, "5"):
            with self.assertRaises(ValueError):
                resql.connect(self.path("t.db"), timeout=timeout)


class CallbackMisuseTest(Case):
    def test_closing_the_connection_from_its_extra_callable_is_refused(self):
        db = self.person_db()
        logger = resql.log_changes(of=db, extra=lambda: (db.close(), {})[1])
        with self.assertRaises(resql.Error) as caught:
            db.execute("INSERT INTO person(name) VALUES ('a')")
        self.assertIn("cannot close the connection from inside a resql callback", str(caught.exception))
        self.assertFalse(db.closed)
        self.assertEqual(db.execute("SELECT count(*) FROM person"), [(0,)])
        logger.close()


class ChangeLogTest(Case):
    def setUp(self):
        super().setUp()
        self.db = self.person_db()

    def test_audits_an_insert_with_diff_type_time_record_id_and_extra(self):
        resql.log_changes(of=self.db, extra={"app": "billing"}, clock=frozen_clock)
        self.db.execute("INSERT INTO person(name, age) VALUES (?, ?)", ("Someone", 25))
        [c] = self.changes()
        self.assertEqual((c["table_name"], c["type"], c["record_id"], c["prev_record_id"]),
                         ("person", "insert", 1, None))
        self.assertEqual(c["executed_at"], FROZEN_TEXT)
        self.assertEqual(c["diff"], {"id": {"old": None, "new": 1}, "name": {"old": None, "new": "Someone"},
                                     "age": {"old": None, "new": 25}})
        self.assertEqual(c["extra"], {"app": "billing"})

    def test_audits_an_update_with_only_the_changed_columns(self):
        resql.log_changes(of=self.db, clock=frozen_clock)
        self.db.execute("INSERT INTO person(name, age) VALUES (?, ?)", ("Someone", 25))
        self.db.execute("UPDATE person SET age = ? WHERE id = ?", (26, 1))
        self.db.execute("UPDATE person SET age = 26 WHERE id = 1")      # changes nothing: no row
        changes = self.changes()
        self.assertEqual(len(changes), 2)
        self.assertEqual((changes[1]["type"], changes[1]["record_id"], changes[1]["diff"]),
                         ("update", 1, {"age": {"old": 25, "new": 26}}))
        self.assertEqual(changes[1]["executed_at"], FROZEN_TEXT)
        self.assertIsNone(changes[1]["extra"])

    def test_audits_a_delete_with_every_old_value(self):
        resql.log_changes(of=self.db, clock=frozen_clock)
        self.db.execute("INSERT INTO person(name, age) VALUES (?, ?)", ("Someone", 25))
        self.db.execute("DELETE FROM person WHERE id = ?", [1])
        c = self.changes()[1]
        self.assertEqual((c["type"], c["record_id"]), ("delete", 1))
        self.assertEqual(c["diff"], {"id": {"old": 1, "new": None}, "name": {"old": "Someone", "new": None},
                                     "age": {"old": 25, "new": None}})

    def test_the_view_read_raw_with_the_sqlite3_module(self):
        resql.log_changes(of=self.db, extra={"app": "billing"}, clock=frozen_clock)
        self.db.execute("INSERT INTO person(name, age) VALUES (?, ?)", ("Someone", 25))
        self.db.execute("UPDATE person SET name = 'Someone Else' WHERE id = 1")
        rows = self.read("app.db", """
            SELECT table_name, record_id, type, executed_at, extra,
                   json_extract(diff, '$.name.new') AS name_new
            FROM resql_change_log ORDER BY id""")
        self.assertEqual(rows, [
            {"table_name": "person", "record_id": "1", "type": "insert", "executed_at": FROZEN_TEXT,
             "extra": '{"app":"billing"}', "name_new": "Someone"},
            {"table_name": "person", "record_id": "1", "type": "update", "executed_at": FROZEN_TEXT,
             "extra": '{"app":"billing"}', "name_new": "Someone Else"},
        ])

    def test_the_clock_may_give_microseconds_or_a_datetime(self):
        when = datetime.datetime(2024, 2, 29, 12, 30, 15, 123456, tzinfo=datetime.timezone.utc)
        logger = resql.log_changes(of=self.db, clock=lambda: 1700000000123456)
        self.db.execute("INSERT INTO person(name) VALUES ('x')")
        logger.close()
        resql.log_changes(of=self.db, clock=lambda: when)
        self.db.execute("INSERT INTO person(name) VALUES ('y')")
        self.assertEqual([c["executed_at"] for c in self.changes()],
                         ["2023-11-14T22:13:20.123456Z", "2024-02-29T12:30:15.123456Z"])

    def test_a_failing_clock_falls_back_to_the_system_clock_with_a_warning(self):
        resql.log_changes(of=self.db, clock=lambda: "noon")
        with self.assertWarnsRegex(RuntimeWarning, "the clock callable failed"):
            self.db.execute("INSERT INTO person(name) VALUES ('x')")
        self.assertTrue(self.changes()[0]["executed_at"].startswith(str(datetime.datetime.now(
            datetime.timezone.utc).year)))

    def test_audits_many_inserts_one_row_each_in_order(self):
        resql.log_changes(of=self.db, clock=frozen_clock)
        with self.db.transaction():
            self.db.executemany("INSERT INTO person(name, age) VALUES (?, ?)",
                                [("p%d" % i, i) for i in range(1, 21)])
        changes = self.changes()
        self.assertEqual(len(changes), 20)
        for i, c in enumerate(changes, 1):
            self.assertEqual((c["type"], c["record_id"]), ("insert", i))
            self.assertEqual(c["diff"], {"id": {"old": None, "new": i}, "name": {"old": None, "new": "p%d" % i},
                                         "age": {"old": None, "new": i}})
            self.assertEqual(c["txn_id"], changes[0]["txn_id"])

    def test_does_not_audit_a_rolled_back_insert(self):
        resql.log_changes(of=self.db)
        self.db.execute("BEGIN")
        self.db.execute("INSERT INTO person(name, age) VALUES ('Ghost', 1)")
        self.db.execute("ROLLBACK")
        with self.assertRaisesRegex(RuntimeError, "the request failed"):
            with self.db.transaction():
                self.db.execute("INSERT INTO person(name, age) VALUES ('Ghost', 2)")
                raise RuntimeError("the request failed")
        self.assertEqual(self.changes(), [])
        self.assertEqual(self.count(self.db, "resql_transactions"), 0)
        self.assertEqual(self.count(self.db, "person"), 0)

    def test_into_a_separate_file_holds_only_committed_transactions(self):
        logger = resql.log_changes(of=self.db, to=self.path("audit.db"))
        for i in range(3):
            self.db.execute("INSERT INTO person(name) VALUES (?)", ["p%d" % i])
        with self.assertRaises(ValueError):
            with self.db.transaction():
                self.db.execute("INSERT INTO person(name) VALUES ('ghost')")
                raise ValueError
        logger.close()
        self.assertEqual(len(self.changes("audit.db")), 3)
        self.assertEqual(self.read("audit.db", "SELECT count(*) AS n FROM resql_transactions"), [{"n": 3}])
        self.assertEqual(self.db.execute("SELECT name FROM sqlite_master WHERE name LIKE 'resql%'"), [])

    def test_to_may_be_another_connection_or_the_same_one(self):
        audit = self.open("audit.db")
        logger = resql.log_changes(of=self.db, to=audit)
        self.db.execute("INSERT INTO person(name) VALUES ('x')")
        logger.close()
        self.assertEqual(len(self.changes("audit.db")), 1)
        resql.log_changes(of=self.db, to=self.db)      # the same as to=None
        self.db.execute("INSERT INTO person(name) VALUES ('y')")
        self.assertEqual(len(self.changes("app.db")), 1)
        with self.assertRaisesRegex(ValueError, "in-memory connection"):
            resql.log_changes(of=self.open("other.db"), to=resql.connect(":memory:"))

    def test_tables_and_exclude(self):
        self.db.execute("CREATE TABLE pet(id INTEGER PRIMARY KEY, name TEXT)")
        self.db.execute("CREATE TABLE secret(id INTEGER PRIMARY KEY, v TEXT)")
        logger = resql.log_changes(of=self.db, tables=["pet"])
        for table in ("person", "pet", "secret"):
            self.db.execute("INSERT INTO %s VALUES (1, 'x'%s)" % (table, ", 1" if table == "person" else ""))
        logger.close()
        resql.log_changes(of=self.db, exclude=("secret",))
        for table in ("person", "pet", "secret"):
            self.db.execute("UPDATE %s SET id = 2" % table)
        self.assertEqual([(c["table_name"], c["type"], c["record_id"], c["prev_record_id"])
                          for c in self.changes()],
                         [("pet", "insert", 1, None), ("person", "update", 2, 1), ("pet", "update", 2, 1)])

    def test_extra_is_reused_across_commits(self):
        resql.log_changes(of=self.db, extra={"app": "billing", "n": 1})
        self.db.execute("INSERT INTO person(name) VALUES ('a')")
        with self.db.transaction():
            self.db.execute("INSERT INTO person(name) VALUES ('b')")
            self.db.execute("INSERT INTO person(name) VALUES ('c')")
        changes = self.changes()
        self.assertEqual([c["extra"] for c in changes], [{"app": "billing", "n": 1}] * 3)
        self.assertEqual(len({c["txn_id"] for c in changes}), 2)

    def test_two_connections_with_different_extra_interleaved(self):
        other = self.open("app.db")
        resql.log_changes(of=self.db, extra={"who": "first"})
        resql.log_changes(of=other, extra={"who": "second"})
        self.db.execute("INSERT INTO person(name) VALUES ('1a')")
        other.execute("INSERT INTO person(name) VALUES ('2a')")
        with self.db.transaction():
            self.db.execute("INSERT INTO person(name) VALUES ('1b')")
        other.execute("INSERT INTO person(name) VALUES ('2b')")
        self.db.execute("INSERT INTO person(name) VALUES ('1c')")
        self.assertEqual([(c["diff"]["name"]["new"], c["extra"]["who"]) for c in self.changes()],
                         [("1a", "first"), ("2a", "second"), ("1b", "first"), ("2b", "second"),
                          ("1c", "first")])

    def test_a_callable_extra_gives_the_current_user_once_per_transaction(self):
        session = {"user": "alice"}
        calls = []

        def current_user():
            calls.append(session["user"])
            return {"user": session["user"], "host": "pos-1"}

        resql.log_changes(of=self.db, extra=current_user)
        with self.db.transaction():
            self.db.execute("INSERT INTO person(name) VALUES ('a1')")
            self.db.execute("INSERT INTO person(name) VALUES ('a2')")
        session["user"] = "bob"
        self.db.execute("INSERT INTO person(name) VALUES ('b1')")
        self.db.execute("SELECT * FROM person")                          # no log row: not called
        session["user"] = "carol"
        self.db.execute("UPDATE person SET age = 1 WHERE name = 'a1'")
        self.assertEqual([(c["diff"].get("name", {}).get("new"), c["extra"]) for c in self.changes()], [
            ("a1", {"user": "alice", "host": "pos-1"}), ("a2", {"user": "alice", "host": "pos-1"}),
            ("b1", {"user": "bob", "host": "pos-1"}), (None, {"user": "carol", "host": "pos-1"})])
        self.assertEqual(calls, ["alice", "bob", "carol"])

    def test_a_callable_extra_may_return_none_and_may_read_the_connection(self):
        resql.log_changes(of=self.db, extra=lambda: None)
        self.db.execute("INSERT INTO person(name) VALUES ('x')")
        self.assertIsNone(self.changes()[0]["extra"])
        logger = self.db.loggers[0]
        logger.set_extra(lambda: {"people": self.db.execute("SELECT count(*) FROM person")[0][0]})
        self.db.execute("INSERT INTO person(name) VALUES ('y')")
        # called at the transaction's first log row, after that row was written
        self.assertEqual(self.changes()[1]["extra"], {"people": 2})

    def test_an_exception_in_the_callable_fails_the_statement_and_commits_nothing(self):
        def current_user():
            raise LookupError("nobody is logged in")

        logger = resql.log_changes(of=self.db, extra=current_user)
        with self.assertRaises(resql.Error) as caught:
            self.db.execute("INSERT INTO person(name) VALUES ('x')")
        error = caught.exception
        self.assertEqual(str(error), "resql: extra callback failed: LookupError: nobody is logged in")
        self.assertIsInstance(error.__cause__, LookupError)
        self.assertEqual(self.count(self.db, "person"), 0)
        # inside a transaction: the statement fails, transaction() rolls back
        with self.assertRaisesRegex(resql.Error, "resql: .*nobody is logged in"):
            with self.db.transaction():
                self.db.execute("INSERT INTO person(name) VALUES ('y')")
        self.assertFalse(self.db.in_transaction)
        self.assertEqual(self.count(self.db, "person"), 0)
        self.assertEqual(self.changes(), [])
        # the connection and the logger go on working
        logger.set_extra({"user": "fixed"})
        self.db.execute("INSERT INTO person(name) VALUES ('z')")
        self.assertEqual([c["extra"] for c in self.changes()], [{"user": "fixed"}])

    def test_a_callable_returning_a_non_dict_or_bad_json_fails_the_statement(self):
        logger = resql.log_changes(of=self.db, extra=lambda: ["not", "a", "dict"])
        with self.assertRaisesRegex(resql.Error, "resql: extra callback failed: TypeError: .*must be a dict"):
            self.db.execute("INSERT INTO person(name) VALUES ('x')")
        logger.set_extra(lambda: {"ratio": float("nan")})
        with self.assertRaisesRegex(resql.Error, "resql: extra callback failed: ValueError: .*JSON"):
            self.db.execute("INSERT INTO person(name) VALUES ('x')")
        self.assertEqual(self.count(self.db, "person"), 0)

    def test_set_extra_changes_extra_from_the_next_transaction(self):
        logger = resql.log_changes(of=self.db, extra={"v": 1})
        with self.db.transaction():
            self.db.execute("INSERT INTO person(name) VALUES ('a')")
            logger.set_extra({"v": 2})
            self.db.execute("INSERT INTO person(name) VALUES ('b')")
        self.db.execute("INSERT INTO person(name) VALUES ('c')")
        logger.set_extra(lambda: {"v": 3})
        self.db.execute("INSERT INTO person(name) VALUES ('d')")
        logger.set_extra(None)
        self.db.execute("INSERT INTO person(name) VALUES ('e')")
        self.assertEqual([c["extra"] for c in self.changes()], [{"v": 1}, {"v": 1}, {"v": 2}, {"v": 3}, None])
        with self.assertRaises(TypeError):
            logger.set_extra("v=4")

    def test_close_restores_the_connection(self):
        with resql.log_changes(of=self.db, extra=lambda: {"u": 1}) as logger:
            self.db.execute("INSERT INTO person(name) VALUES ('logged')")
            self.assertTrue(self.db.execute("SELECT 1 FROM sqlite_temp_master WHERE name LIKE 'resql%'"))
            self.db.execute("BEGIN")
            with self.assertRaisesRegex(resql.Error, "a transaction is open") as caught:
                logger.close()
            self.assertEqual(caught.exception.code, resql.MISUSE)
            self.db.execute("COMMIT")
        self.assertTrue(logger.closed)
        self.assertEqual(self.db.loggers, [])
        self.assertEqual(self.db.execute("SELECT name FROM sqlite_temp_master WHERE name LIKE 'resql%'"), [])
        self.db.execute("INSERT INTO person(name) VALUES ('not logged')")
        self.assertEqual(len(self.changes()), 1)
        logger.close()                                      # idempotent
        with self.assertRaisesRegex(resql.Error, "the logger is closed"):
            logger.set_extra({})

    def test_callbacks_are_released_when_resql_is_done_with_them(self):
        base = len(resql._callbacks)
        logger = resql.log_changes(of=self.db, extra=lambda: {"a": 1}, clock=frozen_clock)
        self.assertEqual(len(resql._callbacks), base + 2)
        logger.set_extra(lambda: {"b": 2})                  # the old one is released by resql
        self.assertEqual(len(resql._callbacks), base + 2)
        self.db.execute("INSERT INTO person(name) VALUES ('x')")
        logger.close()
        self.assertEqual(len(resql._callbacks), base)
        other = self.open("other.db")
        resql.log_changes(of=other, extra=lambda: {"c": 3})
        resql.log_queries(of=other, to=self.path("q.db"), extra=lambda: {"d": 4}, clock=frozen_clock)
        self.assertEqual(len(resql._callbacks), base + 3)
        other.close()                                       # frees its loggers
        self.assertEqual(len(resql._callbacks), base)
        with self.assertRaises(resql.Error):                # setup fails: released too
            resql.log_changes(of=self.db, tables=["missing"], extra=lambda: {}, clock=frozen_clock)
        self.assertEqual(len(resql._callbacks), base)

    def test_dropped_connections_and_loggers_are_cleaned_up(self):
        path = self.path("gc.db")
        for i in range(10):
            db = resql.connect(path)
            db.execute("CREATE TABLE IF NOT EXISTS person(id INTEGER PRIMARY KEY, name)")
            resql.log_changes(of=db, extra=lambda i=i: {"i": i})
            resql.log_queries(of=db, to=self.path("gc-q.db"))
            if i % 2:
                db.execute("BEGIN")       # dropped inside a transaction: rolled back
            db.execute("INSERT INTO person(name) VALUES (?)", ["p%d" % i])
            del db
            gc.collect()
        self.assertEqual(self.read("gc.db", "SELECT count(*) AS n FROM person"), [{"n": 5}])
        self.assertEqual([c["extra"]["i"] for c in self.changes("gc.db")], [0, 2, 4, 6, 8])
        self.assertEqual(len(self.queries("gc-q.db", "Insert")), 10)

    def test_threads_each_with_a_connection_and_a_callable_extra(self):
        # The loggers are started one after the other: resql_log_changes
        # runs its setup in a deferred transaction that may need to upgrade to a
        # write lock, which SQLite refuses at once ("database is locked", no
        # busy wait) while another connection is committing.
        local = threading.local()
        errors = []
        dbs = [self.open("app.db") for _ in range(4)]
        for db in dbs:
            resql.log_changes(of=db, extra=lambda: {"user": local.user})

        def work(db, name):
            try:
                local.user = name
                for i in range(20):
                    with db.transaction("IMMEDIATE"):
                        db.execute("INSERT INTO person(name, age) VALUES (?, ?)", (name, i))
            except BaseException as e:      # reported by the main thread
                errors.append(e)

        threads = [threading.Thread(target=work, args=(db, "user%d" % n)) for n, db in enumerate(dbs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        changes = self.changes()
        self.assertEqual(len(changes), 80)
        for c in changes:
            self.assertEqual(c["extra"]["user"], c["diff"]["name"]["new"])


# ---------------------------------------------------------------------------
# The query log
# ---------------------------------------------------------------------------

class QueryLogTest(Case):
    def setUp(self):
        super().setUp()
        self.db = self.person_db()
        self.target = self.path("queries.db")

    def test_one_insert_with_exact_parameters(self):
        self.db.execute("ALTER TABLE person ADD COLUMN score REAL")
        resql.log_queries(of=self.db, to=self.target, clock=frozen_clock)
        self.db.execute("INSERT INTO person(name, score) VALUES (?, ?)", ["Ada", 0.1 + 0.2])
        [q] = self.queries()
        self.assertEqual(q["kind"], "Insert")
        self.assertEqual(q["statement"], "INSERT INTO person(name, score) VALUES (?, ?)")
        self.assertEqual(q["parameters"], ["Ada", 0.30000000000000004])
        self.assertEqual(q["parameters"][1], 0.1 + 0.2)
        self.assertIn("0.30000000000000004", self.read("queries.db", "SELECT parameters FROM resql_queries")
                      [0]["parameters"])
        self.assertEqual((q["parameters_exact"], q["rows_changed"], q["outcome"]), (1, 1, "commit"))
        self.assertEqual(q["executed_at"], FROZEN_TEXT)
        self.assertEqual(q["dialect_description"], "sqlite " + resql.sqlite_version)

    def test_many_inserts_with_exact_parameters(self):
        resql.log_queries(of=self.db, to=self.target)
        values = [("p%d" % i, i * (1 << 40)) for i in range(100)] + [("\x00'\"", -(1 << 63)), (None, (1 << 63) - 1)]
        with self.db.transaction():
            self.db.executemany("INSERT INTO person(name, age) VALUES (?, ?)", values)
        queries = self.queries()
        self.assertEqual([q["kind"] for q in queries], ["Begin"] + ["Insert"] * len(values) + ["Commit"])
        inserts = queries[1:-1]
        self.assertEqual([tuple(q["parameters"]) for q in inserts], values)
        self.assertTrue(all(q["parameters_exact"] == 1 and q["outcome"] == "commit" for q in inserts))
        self.assertEqual(len({q["txn_id"] for q in queries}), 1)

    def test_named_parameters_and_none(self):
        resql.log_queries(of=self.db, to=self.target)
        self.db.execute("INSERT INTO person(name, age) VALUES (:name, @age)", {"name": "Ada", "age": 36})
        self.db.execute("DELETE FROM person")
        self.assertEqual([q["parameters"] for q in self.queries()], [{":name": "Ada", "@age": 36}, []])

    def test_selects_are_not_logged_unless_asked(self):
        logger = resql.log_queries(of=self.db, to=self.target)
        self.db.execute("SELECT * FROM person")
        self.db.execute("INSERT INTO person(name) VALUES ('x')")
        self.db.execute("SELECT count(*) FROM person WHERE name = ?", ["x"])
        logger.close()
        self.assertEqual([q["kind"] for q in self.queries()], ["Insert"])
        resql.log_queries(of=self.db, to=self.target, include_reads=True)
        self.db.execute("SELECT count(*) FROM person WHERE name = ?", ["x"])
        self.assertEqual([(q["kind"], q["parameters"]) for q in self.queries()],
                         [("Insert", []), ("Select", ["x"])])

    def test_rolled_back_transactions_are_kept_or_dropped(self):
        logger = resql.log_queries(of=self.db, to=self.target)
        with self.assertRaises(RuntimeError):
            with self.db.transaction():
                self.db.execute("INSERT INTO person(name) VALUES ('ghost')")
                raise RuntimeError
        logger.close()
        self.assertEqual([(q["kind"], q["outcome"]) for q in self.queries()],
                         [("Begin", "rollback"), ("Insert", "rollback"), ("Rollback", "rollback")])
        resql.log_queries(of=self.db, to=self.path("q2.db"), drop_rollbacks=True)
        self.db.execute("BEGIN")
        self.db.execute("INSERT INTO person(name) VALUES ('ghost')")
        self.db.execute("ROLLBACK")
        self.db.execute("INSERT INTO person(name) VALUES ('kept')")
        self.assertEqual([(q["kind"], q["outcome"]) for q in self.queries("q2.db")], [("Insert", "commit")])

    def test_extra_is_reused_across_commits(self):
        resql.log_queries(of=self.db, to=self.target, extra={"app": "billing"})
        self.db.execute("INSERT INTO person(name) VALUES ('a')")
        self.db.execute("INSERT INTO person(name) VALUES ('b')")
        queries = self.queries()
        self.assertEqual([q["extra"] for q in queries], [{"app": "billing"}] * 2)
        self.assertNotEqual(queries[0]["txn_id"], queries[1]["txn_id"])

    def test_two_connections_with_different_extra_interleaved(self):
        other = self.open("app.db")
        resql.log_queries(of=self.db, to=self.target, extra={"who": "first"})
        resql.log_queries(of=other, to=self.target, extra={"who": "second"})
        self.db.execute("INSERT INTO person(name) VALUES (?)", ["1a"])
        other.execute("INSERT INTO person(name) VALUES (?)", ["2a"])
        self.db.execute("INSERT INTO person(name) VALUES (?)", ["1b"])
        other.execute("INSERT INTO person(name) VALUES (?)", ["2b"])
        self.assertEqual([(q["parameters"][0], q["extra"]["who"]) for q in self.queries()],
                         [("1a", "first"), ("2a", "second"), ("1b", "first"), ("2b", "second")])

    def test_a_callable_extra_gives_the_current_user(self):
        session = {"user": "alice"}
        resql.log_queries(of=self.db, to=self.target, extra=lambda: {"user": session["user"]})
        with self.db.transaction():
            self.db.execute("INSERT INTO person(name) VALUES ('a')")
        session["user"] = "bob"
        self.db.execute("UPDATE person SET age = 3")
        self.assertEqual([(q["kind"], q["extra"]["user"]) for q in self.queries()],
                         [("Begin", "alice"), ("Insert", "alice"), ("Commit", "alice"), ("Update", "bob")])

    def test_an_exception_in_the_callable_fails_the_commit_and_commits_nothing(self):
        def current_user():
            raise PermissionError("the session expired")

        logger = resql.log_queries(of=self.db, to=self.target, extra=current_user)
        with self.assertRaises(resql.Error) as caught:
            self.db.execute("INSERT INTO person(name) VALUES ('x')")
        error = caught.exception
        self.assertEqual((error.code, error.source), (resql.SQLITE_CONSTRAINT_COMMITHOOK, "sqlite"))
        self.assertEqual(str(error), "resql: extra callback failed: PermissionError: the session expired")
        self.assertIsInstance(error.__cause__, PermissionError)
        with self.assertRaisesRegex(resql.Error, "the session expired") as caught:
            with self.db.transaction():
                self.db.execute("INSERT INTO person(name) VALUES ('y')")
                self.db.execute("INSERT INTO person(name) VALUES ('z')")
        self.assertIsInstance(caught.exception.__cause__, PermissionError)
        self.assertFalse(self.db.in_transaction)
        self.assertEqual(self.count(self.db, "person"), 0)
        self.assertEqual(self.queries(), [])
        logger.set_extra({"user": "fixed"})
        self.db.execute("INSERT INTO person(name) VALUES ('ok')")
        self.assertEqual([(q["parameters"], q["extra"]) for q in self.queries()], [([], {"user": "fixed"})])

    def test_an_unwritable_query_log_refuses_the_commit(self):
        logger = resql.log_queries(of=self.db, to=self.target, busy_timeout=0)
        self.db.execute("INSERT INTO person(name) VALUES ('first')")
        blocker = sqlite3.connect(self.target, isolation_level=None)
        self.addCleanup(blocker.close)
        blocker.execute("BEGIN IMMEDIATE")                  # holds the log's write lock
        with self.assertRaises(resql.Error) as caught:
            self.db.execute("INSERT INTO person(name) VALUES ('unlogged')")
        error = caught.exception
        self.assertEqual(error.code, resql.SQLITE_CONSTRAINT_COMMITHOOK)
        self.assertRegex(str(error), r"^resql: .*query log")    # resql_commit_refusal, not "constraint failed"
        self.assertEqual(self.db.execute("SELECT name FROM person"), [("first",)])
        blocker.execute("ROLLBACK")
        self.db.execute("INSERT INTO person(name) VALUES ('second')")
        self.assertEqual([q["statement"].endswith("('second')") for q in self.queries()[-1:]], [True])
        logger.close()

    def test_bad_targets(self):
        with self.assertRaisesRegex(ValueError, "to must be another database"):
            resql.log_queries(of=self.db, to=None)
        with self.assertRaisesRegex(ValueError, "to must be another database"):
            resql.log_queries(of=self.db, to=self.db)
        with self.assertRaises(resql.Error) as caught:
            resql.log_queries(of=self.db, to=self.path("app.db"))
        self.assertEqual(caught.exception.code, resql.MISUSE)
        self.assertTrue(str(caught.exception).startswith("resql:"))
        resql.log_queries(of=self.db, to=self.target)
        with self.assertRaises(resql.Error) as caught:
            resql.log_queries(of=self.db, to=self.path("second.db"))
        self.assertEqual(caught.exception.code, resql.EXISTS)


# ---------------------------------------------------------------------------
# Bad input: a clear error, and nothing changes
# ---------------------------------------------------------------------------

class BadInputTest(Case):
    def setUp(self):
        super().setUp()
        self.db = self.person_db()

    def assert_unchanged(self):
        self.assertEqual(self.resql_objects(self.db), [])
        self.assertEqual(self.db.loggers, [])
        self.assertFalse(os.path.exists(self.path("audit.db")))

    def test_extra_that_is_not_a_dict(self):
        for extra, error in [(["a"], TypeError), ("app=billing", TypeError), (42, TypeError),
                             (True, TypeError), ({"x": float("nan")}, ValueError),
                             ({"x": math.inf}, ValueError), ({"x": object()}, TypeError),
                             ({"x": {1, 2}}, TypeError), ({(1, 2): "tuple key"}, TypeError)]:
            with self.subTest(extra=extra):
                with self.assertRaises(error):
                    resql.log_changes(of=self.db, to=self.path("audit.db"), extra=extra)
                with self.assertRaises(error):
                    resql.log_queries(of=self.db, to=self.path("audit.db"), extra=extra)
                self.assert_unchanged()
        logger = resql.log_changes(of=self.db, extra={"ok": [1, 2.5, None, "é"]})
        with self.assertRaisesRegex(TypeError, "must be a dict"):
            logger.set_extra([1])
        with self.assertRaisesRegex(ValueError, "JSON"):
            logger.set_extra({"x": math.nan})
        self.db.execute("INSERT INTO person(name) VALUES ('x')")
        self.assertEqual(self.changes()[0]["extra"], {"ok": [1, 2.5, None, "é"]})

    def test_unopenable_target(self):
        with self.assertRaises(resql.Error) as caught:
            resql.log_changes(of=self.db, to=self.path("no/such/dir/audit.db"))
        self.assertEqual((caught.exception.code, caught.exception.source), (resql.CANTOPEN, "resql"))
        self.assertTrue(str(caught.exception).startswith("resql:"), str(caught.exception))
        with open(self.path("text.db"), "w") as f:
            f.write("this is not a database, but a text file long enough to be looked at\n" * 20)
        for start in (lambda: resql.log_changes(of=self.db, to=self.path("text.db")),
                      lambda: resql.log_queries(of=self.db, to=self.path("text.db"))):
            with self.assertRaises(resql.Error) as caught:
                start()
            self.assertEqual(caught.exception.code, resql.CANTOPEN, str(caught.exception))
        self.assert_unchanged()
        self.db.execute("INSERT INTO person(name) VALUES ('still works')")

    def test_other_bad_arguments(self):
        cases = [
            (TypeError, "of must be a resql.Connection", lambda: resql.log_changes(of=sqlite3.connect(":memory:"))),
            (TypeError, "to must be a path", lambda: resql.log_changes(of=self.db, to=42)),
            (TypeError, "single string", lambda: resql.log_changes(of=self.db, tables="person")),
            (TypeError, "list of table names", lambda: resql.log_changes(of=self.db, exclude=[1])),
            (TypeError, "clock must be a callable", lambda: resql.log_changes(of=self.db, clock=FROZEN)),
            (ValueError, "busy_timeout", lambda: resql.log_queries(of=self.db, to="x.db", busy_timeout=-1)),
            (resql.Error, "missing", lambda: resql.log_changes(of=self.db, tables=["missing"])),
        ]
        for error, message, call in cases:
            with self.subTest(message=message):
                with self.assertRaisesRegex(error, message):
                    call()
                self.assert_unchanged()
        self.db.execute("BEGIN")
        with self.assertRaisesRegex(resql.Error, "transaction") as caught:
            resql.log_changes(of=self.db)
        self.assertEqual(caught.exception.code, resql.MISUSE)
        self.db.execute("ROLLBACK")
        resql.log_changes(of=self.db)
        with self.assertRaises(resql.Error) as caught:
            resql.log_changes(of=self.db)
        self.assertEqual(caught.exception.code, resql.EXISTS)
        self.db.close()
        with self.assertRaisesRegex(resql.Error, "the connection is closed"):
            resql.log_changes(of=self.db)


# ---------------------------------------------------------------------------
# README.md: its example runs and prints what it shows
# ---------------------------------------------------------------------------

class ReadmeTest(Case):
    def test_the_readme_example(self):
        with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
            text = f.read()
        code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
        shown = re.search(r"It prints\s*\n\s*```\n(.*?)```", text, re.S).group(1)
        out = io.StringIO()
        cwd = os.getcwd()
        os.chdir(self.dir)
        try:
            with contextlib.redirect_stdout(out):
                exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
        finally:
            os.chdir(cwd)
        self.assertEqual(out.getvalue(), shown)


if __name__ == "__main__":
    unittest.main()
