{{/* Names ----------------------------------------------------------------------------- */}}
{{- define "datafoundry.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "datafoundry.fullname" -}}
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

{{- define "datafoundry.operatorName" -}}
{{- printf "%s-operator" (include "datafoundry.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "datafoundry.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "datafoundry.operatorName" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "datafoundry.peeringName" -}}
{{- default (include "datafoundry.fullname" .) .Values.peering.name -}}
{{- end -}}

{{/* Peering is on when asked for or when there are standby replicas. */}}
{{- define "datafoundry.peering" -}}
{{- if or .Values.peering.enabled (gt (int .Values.replicaCount) 1) -}}true{{- end -}}
{{- end -}}

{{/* Labels ---------------------------------------------------------------------------- */}}
{{- define "datafoundry.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "datafoundry.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: datafoundry
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "datafoundry.selectorLabels" -}}
app.kubernetes.io/name: {{ include "datafoundry.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{/* Images: registry (or global.imageRegistry) / repository : tag (or @digest) ---------- */}}
{{- define "datafoundry.image" -}}
{{- $registry := .global.imageRegistry | default .image.registry -}}
{{- $repo := ternary (printf "%s/%s" $registry .image.repository) .image.repository (ne $registry "") -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $repo .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (.image.tag | default .appVersion) -}}
{{- end -}}
{{- end -}}

{{/* Namespaces: the watched ones (namespaced mode) and where worker ServiceAccounts go. */}}
{{- define "datafoundry.workerNamespaces" -}}
{{- $all := list .Release.Namespace -}}
{{- $all = concat $all .Values.operator.watchNamespaces .Values.workers.serviceAccount.extraNamespaces -}}
{{- toJson (uniq $all) -}}
{{- end -}}

{{/*
The operator's RBAC rules. They MUST equal datafoundry.controller.rbac.policy_rules()
(tests/integration/test_chart.py compares them); the reasons live there.
*/}}
{{- define "datafoundry.operatorRules" -}}
- apiGroups: [datafoundry.io]
  resources: [datafoundryjobs]
  verbs: [get, list, watch, patch, delete]
- apiGroups: [datafoundry.io]
  resources: [datafoundryjobs/status]
  verbs: [get, patch, update]
- apiGroups: [datafoundry.io]
  resources: [datafoundryjobs/finalizers]
  verbs: [update]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, delete]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, create]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- if include "datafoundry.peering" . }}
- apiGroups: [kopf.dev]
  resources: [clusterkopfpeerings, kopfpeerings]
  verbs: [get, list, watch, patch]
{{- end }}
{{- end -}}
