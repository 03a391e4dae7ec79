{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "chat-service.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name, prefixed with the chart name unless it already contains it. */}}
{{- define "chat-service.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "chat-service.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "chat-service.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chat-service.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "chat-service.labels" -}}
helm.sh/chart: {{ include "chat-service.chart" . }}
{{ include "chat-service.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "chat-service.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "chat-service.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "chat-service.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* The Secret the pods read DATABASE_URL, REDIS_URL, JWT_SECRET (and DATABASE_REPLICA_URLS) from. */}}
{{- define "chat-service.secretName" -}}
{{- .Values.secrets.existingSecret | default (include "chat-service.fullname" .) }}
{{- end }}

{{/*
A value as an environment variable string. Helm reads numbers as float64, which print as 1e+06
from a million on: whole numbers are printed as integers.
*/}}
{{- define "chat-service.envValue" -}}
{{- if or (kindIs "float64" .) (kindIs "int64" .) (kindIs "int" .) }}
{{- int64 . | toString }}
{{- else }}
{{- toString . }}
{{- end }}
{{- end }}

{{/*
The non-secret environment (YAML map of strings): the ConfigMap's data, and the migration Job's env
(a hook runs before the release's ConfigMap exists on first install).
*/}}
{{- define "chat-service.configData" -}}
NODE_ENV: "production"
PORT: {{ include "chat-service.envValue" .Values.containerPort | quote }}
HOST: "0.0.0.0"
MIGRATIONS_RUN: {{ ternary "false" "true" .Values.migrations.enabled | quote }}
{{- range $key, $value := .Values.config }}
{{- $text := include "chat-service.envValue" $value }}
{{- if ne $text "" }}
{{ $key }}: {{ $text | quote }}
{{- end }}
{{- end }}
{{- with .Values.otel }}
{{- if .endpoint }}
OTEL_EXPORTER_OTLP_ENDPOINT: {{ .endpoint | quote }}
{{- end }}
{{- if .protocol }}
OTEL_EXPORTER_OTLP_PROTOCOL: {{ .protocol | quote }}
{{- end }}
{{- if .sampler }}
OTEL_TRACES_SAMPLER: {{ .sampler | quote }}
{{- end }}
{{- if .samplerArg }}
OTEL_TRACES_SAMPLER_ARG: {{ .samplerArg | quote }}
{{- end }}
{{- if .serviceName }}
OTEL_SERVICE_NAME: {{ .serviceName | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* The secret environment (YAML map of strings) when the chart creates the Secret. */}}
{{- define "chat-service.secretData" -}}
DATABASE_URL: {{ required "secrets.databaseUrl (or secrets.existingSecret) is required" .Values.secrets.databaseUrl | quote }}
REDIS_URL: {{ required "secrets.redisUrl (or secrets.existingSecret) is required" .Values.secrets.redisUrl | quote }}
{{- if .Values.secrets.jwtSecret }}
JWT_SECRET: {{ .Values.secrets.jwtSecret | quote }}
{{- end }}
{{- if .Values.secrets.databaseReplicaUrls }}
DATABASE_REPLICA_URLS: {{ .Values.secrets.databaseReplicaUrls | quote }}
{{- end }}
{{- if .Values.secrets.redisSentinelPassword }}
REDIS_SENTINEL_PASSWORD: {{ .Values.secrets.redisSentinelPassword | quote }}
{{- end }}
{{- end }}
