"""Development only: the local substrate and the developer commands (`graphsync-dev`).

The substrate is real servers started on loopback for tests and the demo. Every
server comes from a registry (Debian, PyPI, Maven Central, the Go module proxy),
is built once into a cache outside the repository, and is started on a free
loopback port. A server that cannot start raises `SubstrateError` with the tail
of its log: nothing is ever skipped.

This package lives beside the shipped ones, not inside them: the image installs
only `operator/` (the engine and the operator), and an import-linter contract
keeps both from importing anything here.
"""
