{{/* Names, labels and the pieces every workload shares. */}}

{{- define "checkout.fullname" -}}
{{- if hasPrefix .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The name of one component's objects: checkout.name (dict "root" $ "component" "operator") */}}
{{- define "checkout.name" -}}
{{- printf "%s-%s" (include "checkout.fullname" .root) .component -}}
{{- end -}}

{{- define "checkout.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: checkout-operator
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
{{ include "checkout.selectorLabels" . }}
{{- end -}}

{{- define "checkout.selectorLabels" -}}
app.kubernetes.io/name: checkout-operator
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The namespaces whose Checkouts are carried out. */}}
{{- define "checkout.watchNamespaces" -}}
{{- $namespaces := .Values.operator.watchNamespaces | default (list .Release.Namespace) -}}
{{- toJson (uniq $namespaces) -}}
{{- end -}}

{{/* One of the project's images: checkout.image (dict "root" $ "image" .Values.operator.image) */}}
{{- define "checkout.image" -}}
{{- $tag := .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- if .root.Values.image.registry -}}
{{- printf "%s/%s:%s" .root.Values.image.registry .image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "checkout.brokerUrl" -}}
{{- if .Values.nats.enabled -}}
{{- printf "nats://%s:4222" (include "checkout.name" (dict "root" . "component" "nats")) -}}
{{- else -}}
{{- required "nats.externalUrl is required when nats.enabled is false" .Values.nats.externalUrl -}}
{{- end -}}
{{- end -}}

{{/* Pod-level security: the restricted Pod Security Standard. */}}
{{- define "checkout.podSecurity" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
fsGroup: {{ .uid }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "checkout.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}

{{- define "checkout.pullSecrets" -}}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* nodeSelector, tolerations and affinity of one workload's values. */}}
{{- define "checkout.placement" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The functions' database URL, as env entries (the password never leaves its Secret). */}}
{{- define "checkout.databaseEnv" -}}
{{- if .Values.postgresql.enabled }}
- name: DATABASE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "checkout.postgresqlSecret" . }}
      key: password
- name: DATABASE_URL
  value: {{ printf "postgresql+psycopg://%s:$(DATABASE_PASSWORD)@%s:5432/%s" .Values.postgresql.username (include "checkout.name" (dict "root" . "component" "postgresql")) .Values.postgresql.database | quote }}
{{- else }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "externalDatabase.existingSecret is required when postgresql.enabled is false" .Values.externalDatabase.existingSecret }}
      key: {{ .Values.externalDatabase.urlKey }}
{{- end }}
{{- end -}}

{{- define "checkout.postgresqlSecret" -}}
{{- .Values.postgresql.existingSecret | default (include "checkout.name" (dict "root" . "component" "postgresql")) -}}
{{- end -}}
