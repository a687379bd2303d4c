"""The custom resources' API, the one source of truth for their shape: `specs` (what a user writes: the engine's
models plus what only Kubernetes needs), `pods` (the worker pods' own settings in a spec), `status` (what the
operator writes back) and `reasons` (the one set of condition reasons); `crds`, `structural` and `crdfiles` (the
CRDs generated from those models) and `validation` (manifests checked offline, as the API server and the handlers
would)."""
