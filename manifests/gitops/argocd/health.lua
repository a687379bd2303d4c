-- Argo CD health of graphsync's resources (SyncPipeline, ReconciliationJob, ConflictPolicy).
--
-- Read from the status the operator writes: observedGeneration and the conditions
-- Ready, Reconciling, Stalled and Degraded, and the phase. The order matters: a
-- status for an older generation says nothing about the spec Argo CD just synced,
-- and a failure outranks a pause. argocd-cm.yaml holds this script under one key per
-- kind; `graphsync-dev gitops --write manifests/gitops` regenerates it.
local hs = { status = "Progressing", message = "Waiting for the graphsync operator to report status" }
if obj.status == nil then
  return hs
end

local conditions = {}
if obj.status.conditions ~= nil then
  for _, condition in ipairs(obj.status.conditions) do
    conditions[condition.type] = condition
  end
end

local function said(condition)
  if condition.message ~= nil and condition.message ~= "" then
    return condition.message
  end
  return condition.reason or condition.type
end

local generation = obj.metadata.generation
if generation ~= nil and obj.status.observedGeneration ~= generation then
  hs.message = "Waiting for the operator to act on generation " .. tostring(generation)
  return hs
end

for _, failing in ipairs({ "Stalled", "Degraded" }) do
  local condition = conditions[failing]
  if condition ~= nil and condition.status == "True" then
    hs.status = "Degraded"
    hs.message = said(condition)
    return hs
  end
end

if obj.status.phase == "Suspended" then
  hs.status = "Suspended"
  local ready = conditions["Ready"]
  hs.message = ready ~= nil and said(ready) or "Suspended"
  return hs
end

local reconciling = conditions["Reconciling"]
if reconciling ~= nil and reconciling.status == "True" then
  hs.message = said(reconciling)
  return hs
end

local ready = conditions["Ready"]
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = said(ready)
  return hs
end
if ready ~= nil then
  hs.message = said(ready)
end
return hs
