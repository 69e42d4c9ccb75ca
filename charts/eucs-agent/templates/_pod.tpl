{{/*
The agent's pod, for the Deployment (one agent) and the StatefulSet (one
agent per shard, sharding.enabled). Sharded, the container gets its shard from
the pod's ordinal, and the data volume comes from the StatefulSet's
volumeClaimTemplates instead of the pod's volumes.
*/}}
{{- define "eucs-agent.podTemplate" -}}
metadata:
  annotations:
    # The agent reads its config once, at start: a changed config must
    # roll the pod.
    checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
    {{- if .Values.signingKey.create }}
    checksum/signing-key: {{ include (print $.Template.BasePath "/secret-signing-key.yaml") . | sha256sum }}
    {{- end }}
    {{- if and .Values.tls.enabled .Values.tls.create }}
    checksum/tls: {{ include (print $.Template.BasePath "/secret-tls.yaml") . | sha256sum }}
    {{- end }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  labels:
    {{- include "eucs-agent.labels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "eucs-agent.serviceAccountName" . }}
  automountServiceAccountToken: {{ .Values.automountServiceAccountToken }}
  # The agent talks to no in-cluster Service; their addresses as
  # environment variables are noise.
  enableServiceLinks: false
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  containers:
    - name: eucs-agent
      image: {{ include "eucs-agent.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        - run
        - --config
        - /etc/eucs-agent/agent.yaml
        - --grace
        - {{ include "eucs-agent.grace" . }}
        {{- if .Values.sharding.enabled }}
        # This replica's share of the estate. The kubelet expands
        # $(EUCS_SHARD_INDEX), the pod's ordinal, from env below.
        - --shard-index=$(EUCS_SHARD_INDEX)
        - --shard-count={{ int .Values.sharding.replicas }}
        {{- end }}
      # Relative paths in config resolve onto the data volume.
      workingDir: /var/lib/eucs-agent
      ports:
        - name: metrics
          containerPort: 9464
          protocol: TCP
      {{- if or .Values.extraEnv .Values.awsWebIdentity.roleArn .Values.sharding.enabled }}
      env:
        {{- with .Values.awsWebIdentity.roleArn }}
        # Read by the AWS SDK's default credential chain.
        - name: AWS_ROLE_ARN
          value: {{ . | quote }}
        - name: AWS_WEB_IDENTITY_TOKEN_FILE
          value: /var/run/secrets/eucs-agent/aws/token
        {{- end }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- if .Values.sharding.enabled }}
        # The StatefulSet controller labels each pod with its ordinal
        # (Kubernetes 1.28+). After extraEnv, so that it wins over a
        # variable of the same name there.
        - name: EUCS_SHARD_INDEX
          valueFrom:
            fieldRef:
              fieldPath: metadata.labels['apps.kubernetes.io/pod-index']
        {{- end }}
      {{- end }}
      {{- if .Values.probes.enabled }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: metrics
        periodSeconds: 30
        timeoutSeconds: 5
        failureThreshold: 3
      readinessProbe:
        httpGet:
          path: /readyz
          port: metrics
        periodSeconds: 10
        timeoutSeconds: 5
      {{- end }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /etc/eucs-agent/agent.yaml
          subPath: agent.yaml
          readOnly: true
        - name: signing-key
          mountPath: /etc/eucs-agent/keys
          readOnly: true
        {{- if .Values.tls.enabled }}
        - name: tls
          mountPath: /etc/eucs-agent/tls
          readOnly: true
        {{- end }}
        - name: data
          mountPath: /var/lib/eucs-agent
        # The root filesystem is read-only; this is the one scratch space.
        - name: tmp
          mountPath: /tmp
        {{- if .Values.awsWebIdentity.roleArn }}
        - name: aws-token
          mountPath: /var/run/secrets/eucs-agent/aws
          readOnly: true
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "eucs-agent.fullname" . }}
    - name: signing-key
      secret:
        secretName: {{ include "eucs-agent.signingKeySecretName" . }}
        # Mapped to the file name config.signing.key points at, whatever
        # the key is called inside the Secret.
        items:
          - key: {{ .Values.signingKey.secretKey }}
            path: key.pem
        defaultMode: 288 # 0440: root and the agent's group (fsGroup) only
    {{- if .Values.tls.enabled }}
    - name: tls
      secret:
        secretName: {{ include "eucs-agent.tlsSecretName" . }}
        defaultMode: 288 # 0440
    {{- end }}
    {{- if not .Values.sharding.enabled }}
    - name: data
      {{- if .Values.persistence.enabled }}
      persistentVolumeClaim:
        claimName: {{ include "eucs-agent.claimName" . }}
      {{- else }}
      emptyDir: {}
      {{- end }}
    {{- end }}
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
    {{- with .Values.awsWebIdentity }}
    {{- if .roleArn }}
    # Bound to AWS STS's audience: the token opens no door in the
    # Kubernetes API, unlike an automounted one.
    - name: aws-token
      projected:
        sources:
          - serviceAccountToken:
              audience: {{ .audience }}
              expirationSeconds: {{ .expirationSeconds }}
              path: token
    {{- end }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
