{{/*
Pulsar StatefulSets as the pulsarv2 2.7.8 and pulsar 3.3.0 sub-charts name and label them:
<release>-<name>-{zookeeper,bookie,broker,proxy}; selector labels app=<name>, release=<release>,
component=...; StatefulSet label chart=<chart>; volumeClaimTemplates
<release>-<name>-{zookeeper-data,bookie-journal,bookie-ledgers}, so PVCs are
<release>-<name>-bookie-journal-<release>-<name>-bookie-N and carry {app, release, component}.
*/}}
{{- define "testbed.pulsar" -}}
{{- $root := index . 0 -}}
{{- $p := index . 1 -}}
{{- $name := index . 2 -}}
{{- $chart := index . 3 -}}
{{- $image := index . 4 -}}
{{- $prefix := printf "%s-%s" $root.Release.Name $name -}}
{{- range $component := list "zookeeper" "bookie" "broker" "proxy" }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $prefix }}-{{ $component }}
  labels: {app: {{ $name }}, release: {{ $root.Release.Name }}, component: {{ $component }}, chart: {{ $chart }}}
spec:
  clusterIP: None
  ports:
  - {name: main, port: {{ if eq $component "zookeeper" }}2181{{ else if eq $component "bookie" }}3181{{ else }}6650{{ end }}}
  selector: {app: {{ $name }}, release: {{ $root.Release.Name }}, component: {{ $component }}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {{ $prefix }}-{{ $component }}
  labels: {app: {{ $name }}, release: {{ $root.Release.Name }}, component: {{ $component }}, chart: {{ $chart }}, cluster: {{ $prefix }}}
spec:
  serviceName: {{ $prefix }}-{{ $component }}
  replicas: {{ if eq $component "zookeeper" }}{{ $p.zookeeper.replicaCount }}{{ else if eq $component "bookie" }}{{ $p.bookkeeper.replicaCount }}{{ else if eq $component "broker" }}{{ $p.broker.replicaCount }}{{ else }}{{ $p.proxy.replicaCount }}{{ end }}
  podManagementPolicy: Parallel
  updateStrategy:
    type: RollingUpdate
  selector:
    matchLabels: {app: {{ $name }}, release: {{ $root.Release.Name }}, component: {{ $component }}}
  template:
    metadata:
      labels: {app: {{ $name }}, release: {{ $root.Release.Name }}, component: {{ $component }}, cluster: {{ $prefix }}}
    spec:
      containers:
      - name: {{ $prefix }}-{{ $component }}
        image: {{ $image }}
        {{- if eq $component "zookeeper" }}
        volumeMounts: [{name: {{ $prefix }}-zookeeper-data, mountPath: /pulsar/data}]
        {{- else if eq $component "bookie" }}
        volumeMounts:
        - {name: {{ $prefix }}-bookie-journal, mountPath: /pulsar/data/bookkeeper/journal}
        - {name: {{ $prefix }}-bookie-ledgers, mountPath: /pulsar/data/bookkeeper/ledgers}
        {{- end }}
  {{- if eq $component "zookeeper" }}
  volumeClaimTemplates:
  - metadata: {name: {{ $prefix }}-zookeeper-data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: {{ $p.zookeeper.volumes.data.size }}}}
  {{- else if eq $component "bookie" }}
  volumeClaimTemplates:
  - metadata: {name: {{ $prefix }}-bookie-journal}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: {{ $p.bookkeeper.volumes.journal.size }}}}
  - metadata: {name: {{ $prefix }}-bookie-ledgers}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: {{ $p.bookkeeper.volumes.ledgers.size }}}}
  {{- end }}
{{- end }}
{{- end -}}
