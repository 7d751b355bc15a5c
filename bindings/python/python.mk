# The Python binding (bindings/python/resql.py, ctypes, standard library only).
# Included by the top Makefile, whose B, Q and $(B)/libresql.so it uses.
# `make test-python` runs its unittest suite against the library just built
# (RESQL_LIBRARY points at it, so an installed libresql is never picked up).

PYTHON3 ?= python3

.PHONY: test-python

test-python: $(B)/libresql.so
	@echo "  TEST    python3 -m unittest (bindings/python)"
	$(Q)command -v $(PYTHON3) >/dev/null || { \
	  echo "error: $(PYTHON3) not found; on Debian: apt-get install -y python3" >&2; exit 1; }
	$(Q)RESQL_LIBRARY="$(CURDIR)/$(B)/libresql.so.1" PYTHONDONTWRITEBYTECODE=1 \
	  $(PYTHON3) -m unittest discover -s bindings/python -v

# `make test` runs the Python tests too.
test: test-python

# Included before the first target of the including Makefile, this fragment
# must not become the default goal.
ifeq ($(.DEFAULT_GOAL),test-python)
.DEFAULT_GOAL :=
endif
