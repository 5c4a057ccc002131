{{/* Names, labels and the environment every Maily container shares. */}}

{{- define "maily.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "maily.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "maily.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "maily.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: maily
{{- end -}}

{{/* Selector of one role's pods: (dict "root" $ "role" "api") */}}
{{- define "maily.selectorLabels" -}}
app.kubernetes.io/name: {{ include "maily.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}

{{- define "maily.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "maily.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* repository:tag, or repository@digest when image.digest is set (the canary's tag wins). */}}
{{- define "maily.image" -}}
{{- if and .root.Values.image.digest (not .canary) -}}
{{- printf "%s@%s" .root.Values.image.repository .root.Values.image.digest -}}
{{- else -}}
{{- $tag := default .root.Chart.AppVersion .tag -}}
{{- printf "%s:%s" .root.Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* Offsets of the side ports, as in maily.kit.roles.ROLE_PORT_OFFSETS. */}}
{{- define "maily.roleOffsets" -}}
worker: 1
sender: 2
scheduler: 3
analytics: 4
ai: 5
inbound: 6
webhooks: 7
tracking: 8
{{- end -}}

{{/* The port `maily tracking` serves its public endpoints on (MAILY_TRACKING__PORT). */}}
{{- define "maily.trackingPort" -}}
8010
{{- end -}}

{{/* The port a role answers /healthz, /readyz and /metrics on: (dict "root" $ "role" "sender") */}}
{{- define "maily.healthPort" -}}
{{- if eq .role "api" -}}
8000
{{- else -}}
{{- $offsets := include "maily.roleOffsets" . | fromYaml -}}
{{- add .root.Values.healthBasePort (get $offsets .role) -}}
{{- end -}}
{{- end -}}

{{- define "maily.requireStores" -}}
{{- if not .Values.secrets.existingSecret -}}
{{- fail "secrets.existingSecret is required: create a Secret with the secret key and encryption keys (see docs/deployment.md)" -}}
{{- end -}}
{{- if not .Values.postgresql.host -}}
{{- fail "postgresql.host is required (an external PostgreSQL)" -}}
{{- end -}}
{{- if not .Values.postgresql.passwordSecret.name -}}
{{- fail "postgresql.passwordSecret.name is required" -}}
{{- end -}}
{{- if not .Values.redis.host -}}
{{- fail "redis.host is required (an external Redis)" -}}
{{- end -}}
{{- if not .Values.s3.bucket -}}
{{- fail "s3.bucket is required (object storage over the S3 API)" -}}
{{- end -}}
{{- end -}}

{{/* The environment of every Maily container. Secrets only by reference; the URLs are
     assembled by Kubernetes from the password variables defined before them. */}}
{{- define "maily.env" -}}
{{- include "maily.requireStores" . -}}
- name: MAILY_PG_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.postgresql.passwordSecret.name }}
      key: {{ .Values.postgresql.passwordSecret.key }}
- name: MAILY_DATABASE_URL
  value: {{ printf "postgresql://%s:$(MAILY_PG_PASSWORD)@%s:%v/%s%s" .Values.postgresql.user .Values.postgresql.host .Values.postgresql.port .Values.postgresql.database (ternary (printf "?%s" .Values.postgresql.query) "" (ne .Values.postgresql.query "")) | quote }}
{{- $scheme := ternary "rediss" "redis" .Values.redis.tls }}
{{- if .Values.redis.passwordSecret.name }}
- name: MAILY_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.passwordSecret.name }}
      key: {{ .Values.redis.passwordSecret.key }}
- name: MAILY_REDIS_URL
  value: {{ printf "%s://:$(MAILY_REDIS_PASSWORD)@%s:%v/%v" $scheme .Values.redis.host .Values.redis.port .Values.redis.database | quote }}
{{- else }}
- name: MAILY_REDIS_URL
  value: {{ printf "%s://%s:%v/%v" $scheme .Values.redis.host .Values.redis.port .Values.redis.database | quote }}
{{- end }}
- name: MAILY_SECURITY__SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.existingSecret }}
      key: {{ .Values.secrets.keys.secretKey }}
- name: MAILY_SECURITY__ENCRYPTION_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.existingSecret }}
      key: {{ .Values.secrets.keys.encryptionKeys }}
- name: MAILY_STORAGE__BACKEND
  value: s3
- name: MAILY_STORAGE__S3_BUCKET
  value: {{ .Values.s3.bucket | quote }}
{{- with .Values.s3.region }}
- name: MAILY_STORAGE__S3_REGION
  value: {{ . | quote }}
{{- end }}
{{- with .Values.s3.endpointUrl }}
- name: MAILY_STORAGE__S3_ENDPOINT_URL
  value: {{ . | quote }}
{{- end }}
{{- with .Values.s3.prefix }}
- name: MAILY_STORAGE__S3_PREFIX
  value: {{ . | quote }}
{{- end }}
{{- if .Values.s3.credentialsSecret.name }}
- name: MAILY_STORAGE__S3_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ .Values.s3.credentialsSecret.name }}
      key: {{ .Values.s3.credentialsSecret.accessKeyIdKey }}
- name: MAILY_STORAGE__S3_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.s3.credentialsSecret.name }}
      key: {{ .Values.s3.credentialsSecret.secretAccessKeyKey }}
{{- end }}
- name: MAILY_API__HOST
  value: "0.0.0.0"
- name: MAILY_API__PORT
  value: "8000"
- name: MAILY_ROLES__HEALTH_HOST
  value: "0.0.0.0"
- name: MAILY_ROLES__HEALTH_BASE_PORT
  value: {{ .Values.healthBasePort | quote }}
{{- if .Values.ingress.host }}
- name: MAILY_API__PUBLIC_URL
  value: {{ printf "%s://%s" (ternary "https" "http" .Values.ingress.tls.enabled) .Values.ingress.host | quote }}
{{- end }}
{{- range $key, $value := .Values.config }}
- name: {{ printf "MAILY_%s" $key }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- with .Values.secrets.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}
