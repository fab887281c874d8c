{{- define "milvus.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>-milvus, or the release name when it already contains the chart name. */}}
{{- define "milvus.fullname" -}}
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

{{- define "milvus.matchLabels" -}}
app.kubernetes.io/name: {{ include "milvus.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "milvus.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{ include "milvus.matchLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "milvus.image" -}}
{{ .Values.image.all.repository }}:{{ .Values.image.all.tag }}
{{- end -}}

{{/*
One Milvus component Deployment. Arguments: root context, component name, replicas, and whether
the Recreate strategy applies (coordinators without active-standby, standalone).
*/}}
{{- define "milvus.deployment" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
{{- $replicas := index . 2 -}}
{{- $recreate := index . 3 }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "milvus.fullname" $root }}-{{ $component }}
  labels:
    {{- include "milvus.labels" $root | nindent 4 }}
    component: {{ $component | quote }}
  {{- if and (eq $component "standalone") (semverCompare ">=5.0.0-0" $root.Chart.Version) }}
  annotations:
    milvus.io/message-queue: {{ include "milvus.standalone.messageQueue" $root }}
  {{- end }}
spec:
  replicas: {{ $replicas }}
  progressDeadlineSeconds: 60
  strategy:
    {{- if $recreate }}
    type: Recreate
    {{- else }}
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
    {{- end }}
  selector:
    matchLabels:
      {{- include "milvus.matchLabels" $root | nindent 6 }}
      component: {{ $component | quote }}
  template:
    metadata:
      labels:
        {{- include "milvus.matchLabels" $root | nindent 8 }}
        component: {{ $component | quote }}
    spec:
      containers:
      - name: {{ $component }}
        image: {{ include "milvus.image" $root | quote }}
        args: ["milvus", "run", {{ $component | quote }}]
        ports:
        {{- if or (eq $component "proxy") (eq $component "standalone") }}
        - name: milvus
          containerPort: 19530
          protocol: TCP
        {{- end }}
        - name: metrics
          containerPort: 9091
          protocol: TCP
        volumeMounts:
        - name: milvus-config
          mountPath: /milvus/configs/default.yaml
          subPath: default.yaml
          readOnly: true
        - name: milvus-config
          mountPath: /milvus/configs/user.yaml
          subPath: user.yaml
          readOnly: true
        {{- if eq $component "standalone" }}
        - name: milvus-data-disk
          mountPath: /var/lib/milvus
        {{- end }}
      volumes:
      - name: milvus-config
        configMap:
          name: {{ include "milvus.fullname" $root }}
      {{- if eq $component "standalone" }}
      - name: milvus-data-disk
        persistentVolumeClaim:
          claimName: {{ include "milvus.fullname" $root }}
      {{- end }}
{{- end -}}

{{/*
The standalone's queue as the real chart's milvus.standalone.messageQueue (5.0.0 on) picks it:
standalone.messageQueue, except woodpecker after revision 1, where the standalone Deployment is
looked up (on the API server, during install and upgrade): absent -> woodpecker; present -> its
milvus.io/message-queue annotation, else rocksmq (a standalone upgraded from chart 4 keeps RocksMQ).
Before 5.0.0 the chart writes standalone.messageQueue as it is.
*/}}
{{- define "milvus.standalone.messageQueue" -}}
{{- $in := .Values.standalone.messageQueue -}}
{{- if or (semverCompare "<5.0.0-0" .Chart.Version) (ne "woodpecker" $in) (eq (int .Release.Revision) 1) -}}
{{ $in }}
{{- else -}}
{{- $deploy := lookup "apps/v1" "Deployment" .Release.Namespace (printf "%s-standalone" (include "milvus.fullname" .)) -}}
{{- if not $deploy -}}
{{ $in }}
{{- else -}}
{{- $annotation := get ($deploy.metadata.annotations | default dict) "milvus.io/message-queue" -}}
{{- if $annotation -}}
{{ $annotation }}
{{- else -}}
rocksmq
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
