{{/*
Names and labels shared by every template. The release fullname is the release name when it
already contains the chart name (`helm install kube-event-alerter ...` gives the names of
deploy/base), else <release>-kube-event-alerter.
*/}}
{{- define "kea.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "kea.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: kube-event-alerter
{{- end -}}

{{/* What the Deployment, Service, PDB, NetworkPolicy and ServiceMonitor select the pods by. */}}
{{- define "kea.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: daemon
{{- end -}}

{{- define "kea.serviceAccountName" -}}
{{- .Values.serviceAccount.name | default (include "kea.fullname" .) -}}
{{- end -}}

{{/* The Secret mounted at /etc/kube-event-alerter/secrets. */}}
{{- define "kea.secretName" -}}
{{- if and .Values.secret.existingSecret .Values.secret.values -}}
{{- fail "secret: set existingSecret (a Secret you manage) or values (the chart creates one), not both" -}}
{{- end -}}
{{- .Values.secret.existingSecret | default (printf "%s-webhooks" (include "kea.fullname" .)) -}}
{{- end -}}

{{- define "kea.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* config.metrics.port: the container port, the probes, the Service and the NetworkPolicy. */}}
{{- define "kea.metricsPort" -}}
{{- .Values.config.metrics.port | default 9102 | int -}}
{{- end -}}

{{/* The rules directory: config.rules.paths must be exactly one directory, the mounted ConfigMap. */}}
{{- define "kea.rulesDir" -}}
{{- $paths := .Values.config.rules.paths | default list -}}
{{- if ne (len $paths) 1 -}}
{{- fail (printf "config.rules.paths: the chart mounts the rules ConfigMap as one directory; give exactly one path (got %d)" (len $paths)) -}}
{{- end -}}
{{- first $paths -}}
{{- end -}}

{{/* Checks across values that would otherwise give a pod that cannot work as configured. */}}
{{- define "kea.validate" -}}
{{- if not .Values.config.metrics.enabled -}}
{{- fail "config.metrics.enabled: the probes need /healthz and /readyz; keep it true" -}}
{{- end -}}
{{- $le := .Values.config.kubernetes.leader_election | default dict -}}
{{- if and (gt (int .Values.replicas) 1) (not $le.enabled) -}}
{{- fail "replicas > 1 needs config.kubernetes.leader_election.enabled: true (otherwise every replica notifies)" -}}
{{- end -}}
{{- if not (hasPrefix "/" (.Values.config.data_dir | default "")) -}}
{{- fail "config.data_dir: an absolute path (the data emptyDir is mounted there)" -}}
{{- end -}}
{{- end -}}
