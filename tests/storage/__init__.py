"""The store suite, parametrised over SQLite and PostgreSQL (a package so tests share helpers)."""
