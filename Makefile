# The README's two commands. `make book` builds the executed HTML book (the main job);
# `make test` runs every check. Both create .venv and install on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
NOTEBOOKS = $(shell git ls-files 'book/*.ipynb')

.PHONY: book test install lint hygiene student clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch is pinned here only (the CPU wheel); pyproject.toml leaves it free for Colab.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[book,test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 > /dev/null
	touch $(STAMP)

book: install
	$(BIN)/jupyter-book build . -W -n --keep-going
	@echo "Open the book: _build/html/index.html"

hygiene: install
	$(BIN)/nbstripout --keep-id --verify $(NOTEBOOKS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Strict build of the book without running notebooks: broken references fail here.
# Its pages show "[not run]" where they paste a figure a notebook records when it runs
# (dlt_glue_placeholders, book/_ext/claims_ledger.py); `make book` pastes the figures.
_build/config-noexec.yml: _config.yml
	mkdir -p _build
	sed -e 's/^\(\s*execute_notebooks:\).*/\1 "off"/' \
		-e 's/^\(\s*\)nb_execution_raise_on_error:.*/&\n\1dlt_glue_placeholders: true/' \
		-e 's|^\(\s*[a-z_]*:\) book/_ext|\1 ../book/_ext|' \
		_config.yml > $@

test: install hygiene lint _build/config-noexec.yml
	$(BIN)/jupyter-book build . -W -n --keep-going --config _build/config-noexec.yml --path-output _build/noexec
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadfile \
		--disable-socket --allow-unix-socket --allow-hosts=127.0.0.1,::1,localhost \
		--nbmake --nbmake-timeout=600 tests book

# Hand-outs (book/teaching.md): every notebook without its solutions, one folder per
# chapter in _build/student/. dltheory.student is standard library only: no install.
student:
	@for dir in $(sort $(dir $(NOTEBOOKS))); do \
		PYTHONPATH=lib $(PYTHON) -m dltheory.student $$dir*.ipynb \
			-o _build/student/$$(basename $$dir) || exit 1; \
	done

clean:
	rm -rf _build
