"""Tools: what a tool is (`protocol`), how the server finds them (`registry`), the operator
settings they take (`settings`), and the built-ins: `builtins` (echo, sleep, fail),
`http` (http.request), `command` (command.run) and `files` (file.read/write/delete/list)."""
