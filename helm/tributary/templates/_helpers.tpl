{{/*
The namespace of every namespaced object: .Values.namespace, written explicitly
(not .Release.Namespace) so that `helm template` with the defaults renders
exactly manifests/install.yaml. See values.yaml.
*/}}
{{- define "tributary.namespace" -}}
{{ required "namespace: the namespace of the chart's objects is required" .Values.namespace }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "tributary.labels" -}}
app.kubernetes.io/part-of: tributary
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

{{/* The operator pods' selector: fixed names, the webhook's objectSelector excludes them. */}}
{{- define "tributary.selectorLabels" -}}
app.kubernetes.io/name: tributary-operator
app.kubernetes.io/part-of: tributary
{{- end }}

{{- define "tributary.operatorImage" -}}
{{ .Values.operator.image.repository }}:{{ .Values.operator.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "tributary.sidecarImage" -}}
{{ .Values.sidecar.image.repository }}:{{ .Values.sidecar.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/*
"true" when the operator manages the webhook's certificate itself (the webhook
is on and cert-manager is not): only then does it need the Secret and the
MutatingWebhookConfiguration rules.
*/}}
{{- define "tributary.selfManagedCerts" -}}
{{ and .Values.webhook.enabled (not .Values.certManager.enabled) }}
{{- end }}
