{{/*
The chart name, overridable with nameOverride.
*/}}
{{- define "eucs-agent.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the release's objects. Truncated to 63 characters because
some Kubernetes name fields are limited to that (DNS-1123 labels).
*/}}
{{- define "eucs-agent.fullname" -}}
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

{{/*
name-version, as the helm.sh/chart label wants it.
*/}}
{{- define "eucs-agent.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every object.
*/}}
{{- define "eucs-agent.labels" -}}
helm.sh/chart: {{ include "eucs-agent.chart" . }}
{{ include "eucs-agent.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: eucs-agent
{{- end }}

{{/*
Selector labels: these never change over the release's life, because a
Deployment's selector is immutable.
*/}}
{{- define "eucs-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "eucs-agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The ServiceAccount the pod runs as.
*/}}
{{- define "eucs-agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "eucs-agent.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image reference; a digest wins over a tag.
*/}}
{{- define "eucs-agent.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
The Secret holding the signing key, and a clear failure when there is none:
an agent without its key cannot sign anything.
*/}}
{{- define "eucs-agent.signingKeySecretName" -}}
{{- if .Values.signingKey.create }}
{{- if .Values.signingKey.existingSecret }}
{{- fail "signingKey: set either create (with pem) or existingSecret, not both" }}
{{- end }}
{{- printf "%s-signing-key" (include "eucs-agent.fullname" .) }}
{{- else if .Values.signingKey.existingSecret }}
{{- .Values.signingKey.existingSecret }}
{{- else }}
{{- fail "signingKey: the agent needs a signing key. Create one with `eucs-agent keygen --out DIR`, then either `kubectl create secret generic eucs-agent-signing-key --from-file=key.pem=DIR/key.pem` and set signingKey.existingSecret=eucs-agent-signing-key, or set signingKey.create=true with --set-file signingKey.pem=DIR/key.pem" }}
{{- end }}
{{- end }}

{{/*
The Secret holding mTLS material (only called when tls.enabled).
*/}}
{{- define "eucs-agent.tlsSecretName" -}}
{{- if .Values.tls.create }}
{{- if .Values.tls.existingSecret }}
{{- fail "tls: set either create (with cert and key) or existingSecret, not both" }}
{{- end }}
{{- printf "%s-tls" (include "eucs-agent.fullname" .) }}
{{- else if .Values.tls.existingSecret }}
{{- .Values.tls.existingSecret }}
{{- else }}
{{- fail "tls.enabled needs tls.existingSecret, or tls.create=true with tls.cert and tls.key" }}
{{- end }}
{{- end }}

{{/*
The data volume's claim: an existing one, or the chart's.
*/}}
{{- define "eucs-agent.claimName" -}}
{{- .Values.persistence.existingClaim | default (printf "%s-data" (include "eucs-agent.fullname" .)) }}
{{- end }}

{{/*
The agent's --grace: the run in progress may take the termination grace
period less 15 seconds, which are left for sealing the bundle and exiting
before the kubelet sends SIGKILL.
*/}}
{{- define "eucs-agent.grace" -}}
{{- printf "%ds" (sub (int .Values.terminationGracePeriodSeconds) 15) }}
{{- end }}

{{/*
Checks a path in config: chain state and evidence must be on the data
volume. A relative path is fine, it resolves against workingDir, the volume.
*/}}
{{- define "eucs-agent.checkDataPath" -}}
{{- $path := index . 0 }}
{{- $key := index . 1 }}
{{- if and (hasPrefix "/" $path) (not (hasPrefix "/var/lib/eucs-agent/" $path)) }}
{{- fail (printf "config.%s: %q is not under /var/lib/eucs-agent/, the data volume; it would be lost with the pod (or fail on the read-only root filesystem)" $key $path) }}
{{- end }}
{{- end }}

{{/*
The StatefulSet of a sharded release. 52 characters at most: the controller
labels its pods with controller-revision-hash, NAME-HASH, which must fit in
63.
*/}}
{{- define "eucs-agent.statefulSetName" -}}
{{- include "eucs-agent.fullname" . | trunc 52 | trimSuffix "-" }}
{{- end }}

{{/*
The headless Service that names a sharded release's pods (the StatefulSet's
serviceName).
*/}}
{{- define "eucs-agent.shardsServiceName" -}}
{{- printf "%s-shards" (include "eucs-agent.fullname" . | trunc 56 | trimSuffix "-") }}
{{- end }}

{{/*
Refuses the values a sharded release cannot run with: each replica must get
its shard from the chart alone and keep its chain on a claim of its own.
*/}}
{{- define "eucs-agent.checkSharding" -}}
{{- if not (semverCompare ">=1.28.0-0" .Capabilities.KubeVersion.Version) }}
{{- fail (printf "sharding.enabled: needs Kubernetes 1.28 or later, which labels each StatefulSet pod with its ordinal (apps.kubernetes.io/pod-index); this cluster is %s" .Capabilities.KubeVersion.Version) }}
{{- end }}
{{- if hasKey .Values.config "shard" }}
{{- fail "config.shard: leave it out with sharding.enabled; the chart gives each replica its shard (--shard-index is the pod's ordinal, --shard-count is sharding.replicas)" }}
{{- end }}
{{- range $name, $collector := .Values.config.collectors }}
{{- if and (kindIs "map" $collector) (hasKey $collector "shard") }}
{{- fail (printf "config.collectors.%s.shard: leave it out with sharding.enabled; the chart gives each replica its shard (--shard-index is the pod's ordinal, --shard-count is sharding.replicas)" $name) }}
{{- end }}
{{- end }}
{{- if not .Values.persistence.enabled }}
{{- fail "persistence.enabled: must be true with sharding.enabled; each replica keeps its chain on a claim of its own, which an emptyDir would lose with the pod" }}
{{- end }}
{{- if .Values.persistence.existingClaim }}
{{- fail "persistence.existingClaim: cannot be used with sharding.enabled; every replica needs a claim of its own, which the StatefulSet makes from persistence.storageClass, accessModes and size" }}
{{- end }}
{{- end }}
