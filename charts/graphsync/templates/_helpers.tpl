{{/* Names: fullnameOverride, else the release's, or <release>-<nameOverride or graphsync> when the release
     name does not say it. */}}
{{- define "graphsync.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := .Values.nameOverride | default .Chart.Name -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "graphsync.operatorName" -}}
{{- printf "%s-operator" (include "graphsync.fullname" .) -}}
{{- end -}}

{{/* Cluster-scoped objects carry the release's namespace: two releases of one name in two namespaces
     (two operators watching different namespaces) must not share them. */}}
{{- define "graphsync.clusterName" -}}
{{- printf "%s-%s" (include "graphsync.operatorName" .) .Release.Namespace | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "graphsync.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "graphsync.operatorName" .) -}}
{{- else -}}
{{- required "serviceAccount.name: name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "graphsync.selectorLabels" -}}
app.kubernetes.io/name: graphsync-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{/* Not app.kubernetes.io/managed-by=graphsync-operator: that label marks the workers the operator makes. */}}
{{- define "graphsync.labels" -}}
{{ include "graphsync.selectorLabels" . }}
app.kubernetes.io/part-of: graphsync
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The CRDs' labels besides app.kubernetes.io/part-of (theirs in the generated templates/crds/): cluster-wide
     objects of one release, none of the operator's selector labels. */}}
{{- define "graphsync.crdLabels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "graphsync.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{- define "graphsync.metricsEnabled" -}}
{{- if gt (int .Values.metrics.port) 0 }}true{{ end -}}
{{- end -}}
