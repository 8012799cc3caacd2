"""Pure business rules: standard library only, each answering allow/deny with a reason."""
