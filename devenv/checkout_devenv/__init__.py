"""The local environment: a real control plane (and, later, broker, functions and operator) run as
local processes, for `make up`, `make demo` and the integration tests."""
