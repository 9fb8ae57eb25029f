{{- define "kinetic.labels" -}}
app.kubernetes.io/name: kinetic
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "kinetic.selector" -}}
app.kubernetes.io/name: kinetic
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "kinetic.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-kinetic-secrets" .Release.Name) -}}
{{- end -}}

{{- define "kinetic.connectorSecretName" -}}
{{- .Values.connectorSecrets.existingSecret | default (printf "%s-kinetic-connector-secrets" .Release.Name) -}}
{{- end -}}

{{/* The pod spec every Kinetic container shares; .args and .probePort vary. */}}
{{- define "kinetic.pod" -}}
automountServiceAccountToken: false
terminationGracePeriodSeconds: {{ .root.Values.terminationGracePeriodSeconds }}
securityContext:
  runAsNonRoot: true
  runAsUser: {{ .root.Values.runAsUser }}
  runAsGroup: {{ .root.Values.runAsGroup }}
  seccompProfile:
    type: RuntimeDefault
containers:
  - name: {{ .component }}
    image: "{{ .root.Values.image.repository }}:{{ .root.Values.image.tag }}"
    imagePullPolicy: {{ .root.Values.image.pullPolicy }}
    args: {{ toJson .args }}
    {{- with .ports }}
    ports:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    env:
      - name: KINETIC_DATABASE_DSN
        valueFrom: {secretKeyRef: {name: {{ include "kinetic.secretName" .root }}, key: database-dsn}}
      - name: KINETIC_REDIS_PASSWORD
        valueFrom: {secretKeyRef: {name: {{ include "kinetic.secretName" .root }}, key: redis-password}}
      - name: KINETIC_API_TOKEN
        valueFrom: {secretKeyRef: {name: {{ include "kinetic.secretName" .root }}, key: api-token}}
    envFrom:
      - secretRef:
          name: {{ include "kinetic.connectorSecretName" .root }}
    {{- if .probePort }}
    livenessProbe:
      httpGet: {path: /healthz, port: {{ .probePort }}}
      periodSeconds: 10
      timeoutSeconds: 3
      failureThreshold: 3
    readinessProbe:
      httpGet: {path: /readyz, port: {{ .probePort }}}
      periodSeconds: 5
      timeoutSeconds: 4
      failureThreshold: 2
    {{- end }}
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities:
        drop: ["ALL"]
    resources:
      {{- toYaml .resources | nindent 6 }}
    volumeMounts:
      - name: config
        mountPath: /etc/kinetic/config
        readOnly: true
volumes:
  - name: config
    configMap:
      name: {{ .root.Release.Name }}-kinetic-config
{{- end -}}
