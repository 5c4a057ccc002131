{{/* The pod template of one role: (dict "root" $ "role" "api" "cfg" $cfg "tag" "" "track" "stable") */}}
{{- define "maily.podTemplate" -}}
{{- $root := .root -}}
{{- $cfg := .cfg -}}
{{- $port := include "maily.healthPort" (dict "root" $root "role" .role) | int -}}
metadata:
  labels:
    {{- include "maily.selectorLabels" (dict "root" $root "role" .role) | nindent 4 }}
    app.kubernetes.io/version: {{ (.tag | default $root.Values.image.tag | default $root.Chart.AppVersion) | quote }}
    app.kubernetes.io/part-of: maily
    maily.io/track: {{ .track }}
  {{- with (merge (dict) ($cfg.podAnnotations | default dict) $root.Values.podAnnotations) }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  serviceAccountName: {{ include "maily.serviceAccountName" $root }}
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: {{ $cfg.terminationGracePeriodSeconds | default 30 }}
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml $root.Values.podSecurityContext | nindent 4 }}
  {{- if $root.Values.topologySpread }}
  topologySpreadConstraints:
    - maxSkew: 1
      topologyKey: topology.kubernetes.io/zone
      whenUnsatisfiable: ScheduleAnyway
      labelSelector:
        matchLabels:
          {{- include "maily.selectorLabels" (dict "root" $root "role" .role) | nindent 10 }}
  {{- end }}
  {{- with ($cfg.nodeSelector | default $root.Values.nodeSelector) }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with ($cfg.tolerations | default $root.Values.tolerations) }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with ($cfg.affinity | default $root.Values.affinity) }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: {{ .role }}
      image: {{ include "maily.image" (dict "root" $root "tag" (.tag | default $root.Values.image.tag) "canary" (eq .track "canary")) | quote }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      args: [{{ .role | quote }}]
      env:
        - name: MAILY_ROLE
          value: {{ .role | quote }}
        {{- include "maily.env" $root | nindent 8 }}
        {{- if eq .role "tracking" }}
        - name: MAILY_TRACKING__HOST
          value: "0.0.0.0"
        - name: MAILY_TRACKING__PORT
          value: {{ include "maily.trackingPort" $root | quote }}
        {{- end }}
        {{- if eq .role "ai" }}
        - name: MAILY_AI__HOST
          value: "0.0.0.0"
        - name: MAILY_AI__PORT
          value: "50051"
        {{- else if $root.Values.roles.ai.enabled }}
        # The AI service's Service (gRPC); the API calls it.
        - name: MAILY_AI__TARGET
          value: {{ printf "%s-ai:50051" (include "maily.fullname" $root) | quote }}
        {{- end }}
        {{- with $cfg.env }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      ports:
        - name: {{ ternary "http" "metrics" (eq .role "api") }}
          containerPort: {{ $port }}
          protocol: TCP
        {{- if eq .role "tracking" }}
        - name: http
          containerPort: {{ include "maily.trackingPort" $root }}
          protocol: TCP
        {{- end }}
        {{- range $cfg.ports }}
        - name: {{ .name }}
          containerPort: {{ .containerPort }}
          protocol: {{ .protocol | default "TCP" }}
        {{- end }}
      # Every role answers /healthz and /readyz over HTTP: the API on its own port,
      # the others on their side port (which also serves /metrics).
      startupProbe:
        httpGet: {path: /healthz, port: {{ $port }}}
        periodSeconds: {{ $root.Values.probes.startup.periodSeconds }}
        failureThreshold: {{ $root.Values.probes.startup.failureThreshold }}
      livenessProbe:
        httpGet: {path: /healthz, port: {{ $port }}}
        periodSeconds: {{ $root.Values.probes.liveness.periodSeconds }}
        timeoutSeconds: {{ $root.Values.probes.liveness.timeoutSeconds }}
        failureThreshold: {{ $root.Values.probes.liveness.failureThreshold }}
      readinessProbe:
        httpGet: {path: /readyz, port: {{ $port }}}
        periodSeconds: {{ $root.Values.probes.readiness.periodSeconds }}
        timeoutSeconds: {{ $root.Values.probes.readiness.timeoutSeconds }}
        failureThreshold: {{ $root.Values.probes.readiness.failureThreshold }}
      resources:
        {{- toYaml $cfg.resources | nindent 8 }}
      securityContext:
        {{- toYaml $root.Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: 256Mi
{{- end -}}
