// A small, plain kubeadm-style homelab: three Ready nodes and the Services people typically run.
// Node IPs are loopback addresses so `serve --demo` and tests can stand up "nodes" on this machine.

/** The homelab cluster as multi-document YAML, for loadObjectsFromYaml: tests and `serve --demo` start from it. */
export const HOMELAB_YAML = `
apiVersion: v1
kind: Node
metadata:
  name: node-a
  creationTimestamp: "2025-01-10T09:00:00Z"
  labels:
    kubernetes.io/hostname: node-a
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    node-role.kubernetes.io/control-plane: ""
spec:
  podCIDR: 10.42.0.0/24
status:
  addresses:
    - {type: InternalIP, address: 127.0.10.1}
    - {type: Hostname, address: node-a}
  conditions:
    - {type: Ready, status: "True", reason: KubeletReady, message: kubelet is posting ready status}
  nodeInfo: {kubeletVersion: v1.32.0, osImage: Debian GNU/Linux 12 (bookworm), containerRuntimeVersion: containerd://1.7.24, architecture: amd64, operatingSystem: linux}
---
apiVersion: v1
kind: Node
metadata:
  name: node-b
  creationTimestamp: "2025-01-10T09:05:00Z"
  labels:
    kubernetes.io/hostname: node-b
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
spec:
  podCIDR: 10.42.1.0/24
status:
  addresses:
    - {type: InternalIP, address: 127.0.10.2}
    - {type: Hostname, address: node-b}
  conditions:
    - {type: Ready, status: "True", reason: KubeletReady, message: kubelet is posting ready status}
  nodeInfo: {kubeletVersion: v1.32.0, osImage: Debian GNU/Linux 12 (bookworm), containerRuntimeVersion: containerd://1.7.24, architecture: amd64, operatingSystem: linux}
---
apiVersion: v1
kind: Node
metadata:
  name: node-c
  creationTimestamp: "2025-01-10T09:05:30Z"
  labels:
    kubernetes.io/hostname: node-c
    kubernetes.io/os: linux
    kubernetes.io/arch: arm64
spec:
  podCIDR: 10.42.2.0/24
status:
  addresses:
    - {type: InternalIP, address: 127.0.10.3}
    - {type: Hostname, address: node-c}
  conditions:
    - {type: Ready, status: "True", reason: KubeletReady, message: kubelet is posting ready status}
  nodeInfo: {kubeletVersion: v1.32.0, osImage: Debian GNU/Linux 12 (bookworm), containerRuntimeVersion: containerd://1.7.24, architecture: arm64, operatingSystem: linux}
---
apiVersion: v1
kind: Service
metadata:
  name: kubernetes
  namespace: default
  creationTimestamp: "2025-01-10T09:00:00Z"
  labels: {component: apiserver, provider: kubernetes}
spec:
  type: ClusterIP
  clusterIP: 10.43.0.1
  ports:
    - {name: https, port: 443, targetPort: 6443, protocol: TCP}
---
apiVersion: v1
kind: Service
metadata:
  name: homer
  namespace: default
  creationTimestamp: "2025-02-01T18:20:00Z"
  labels: {app: homer}
spec:
  type: NodePort
  clusterIP: 10.43.144.201
  selector: {app: homer}
  ports:
    - {name: http, port: 8080, targetPort: 8080, nodePort: 30080, protocol: TCP}
---
apiVersion: v1
kind: Service
metadata:
  name: radarr
  namespace: media
  creationTimestamp: "2025-02-03T20:11:00Z"
  labels: {app: radarr}
spec:
  type: NodePort
  clusterIP: 10.43.87.12
  selector: {app: radarr}
  ports:
    - {name: http, port: 7878, targetPort: 7878, nodePort: 30878, protocol: TCP}
---
apiVersion: v1
kind: Service
metadata:
  name: mosquitto
  namespace: iot
  creationTimestamp: "2025-02-14T07:45:00Z"
  labels: {app: mosquitto}
spec:
  type: NodePort
  clusterIP: 10.43.31.77
  selector: {app: mosquitto}
  ports:
    - {name: mqtt, port: 1883, targetPort: 1883, nodePort: 31883, protocol: TCP}
---
apiVersion: v1
kind: Service
metadata:
  name: pihole-dns
  namespace: dns
  creationTimestamp: "2025-03-02T12:00:00Z"
  labels: {app: pihole}
spec:
  type: LoadBalancer
  clusterIP: 10.43.210.9
  externalTrafficPolicy: Local
  healthCheckNodePort: 32053
  selector: {app: pihole}
  ports:
    - {name: dns-udp, port: 53, targetPort: 53, nodePort: 30053, protocol: UDP}
    - {name: dns-tcp, port: 53, targetPort: 53, nodePort: 30053, protocol: TCP}
status:
  loadBalancer: {}
---
apiVersion: v1
kind: Service
metadata:
  name: grafana
  namespace: monitoring
  creationTimestamp: "2025-03-09T16:30:00Z"
  labels: {app.kubernetes.io/name: grafana}
spec:
  type: ClusterIP
  clusterIP: 10.43.118.40
  selector: {app.kubernetes.io/name: grafana}
  ports:
    - {name: http, port: 3000, targetPort: 3000, protocol: TCP}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kubernetes
  namespace: default
  creationTimestamp: "2025-01-10T09:00:00Z"
  labels: {kubernetes.io/service-name: kubernetes}
addressType: IPv4
endpoints:
  - addresses: [127.0.10.1]
    conditions: {ready: true}
ports:
  - {name: https, port: 6443, protocol: TCP}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: homer-7xq2p
  namespace: default
  creationTimestamp: "2025-02-01T18:20:05Z"
  labels: {kubernetes.io/service-name: homer, endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io}
addressType: IPv4
endpoints:
  - addresses: [10.42.0.15]
    conditions: {ready: true, serving: true, terminating: false}
    nodeName: node-a
    targetRef: {kind: Pod, namespace: default, name: homer-5d8f7c9b6-x2kqz}
ports:
  - {name: http, port: 8080, protocol: TCP}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: radarr-k4m9d
  namespace: media
  creationTimestamp: "2025-02-03T20:11:04Z"
  labels: {kubernetes.io/service-name: radarr, endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io}
addressType: IPv4
endpoints:
  - addresses: [10.42.2.31]
    conditions: {ready: true, serving: true, terminating: false}
    nodeName: node-c
    targetRef: {kind: Pod, namespace: media, name: radarr-0}
ports:
  - {name: http, port: 7878, protocol: TCP}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: mosquitto-qv8lc
  namespace: iot
  creationTimestamp: "2025-02-14T07:45:03Z"
  labels: {kubernetes.io/service-name: mosquitto, endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io}
addressType: IPv4
endpoints:
  - addresses: [10.42.1.22]
    conditions: {ready: true, serving: true, terminating: false}
    nodeName: node-b
    targetRef: {kind: Pod, namespace: iot, name: mosquitto-6b7f9d8c5-lp4wn}
ports:
  - {name: mqtt, port: 1883, protocol: TCP}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: pihole-dns-w9t5r
  namespace: dns
  creationTimestamp: "2025-03-02T12:00:04Z"
  labels: {kubernetes.io/service-name: pihole-dns, endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io}
addressType: IPv4
endpoints:
  - addresses: [10.42.1.53]
    conditions: {ready: true, serving: true, terminating: false}
    nodeName: node-b
    targetRef: {kind: Pod, namespace: dns, name: pihole-7c9d6f5b4-9hjkt}
ports:
  - {name: dns-udp, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: grafana-z2n6h
  namespace: monitoring
  creationTimestamp: "2025-03-09T16:30:06Z"
  labels: {kubernetes.io/service-name: grafana, endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io}
addressType: IPv4
endpoints:
  - addresses: [127.0.10.140]
    conditions: {ready: true, serving: true, terminating: false}
    nodeName: node-c
    targetRef: {kind: Pod, namespace: monitoring, name: grafana-6f4b8d7c9-mq2xz}
ports:
  - {name: http, port: 3000, protocol: TCP}
---
# A Pod the simulator reaches through pods/portforward: its podIP is a loopback address where LoopbackNodes serves
# its container ports (src/sim/nodes.ts), so the ClusterIP grafana answers through the API server. It sits in the
# nodes' 127.0.10.x so that startDemo's nodePrefix moves it with them.
apiVersion: v1
kind: Pod
metadata:
  name: grafana-6f4b8d7c9-mq2xz
  namespace: monitoring
  uid: 5b0c2d1e-7f3a-4c8e-9d61-2a7e4f0b9c13
  creationTimestamp: "2025-03-09T16:30:02Z"
  labels: {app.kubernetes.io/name: grafana, pod-template-hash: 6f4b8d7c9}
spec:
  nodeName: node-c
  containers:
    - name: grafana
      image: grafana/grafana:11.4.0
      ports:
        - {name: http, containerPort: 3000, protocol: TCP}
status:
  phase: Running
  podIP: 127.0.10.140
  podIPs: [{ip: 127.0.10.140}]
  conditions:
    - {type: Ready, status: "True"}
  containerStatuses:
    - {name: grafana, ready: true, restartCount: 0, image: grafana/grafana:11.4.0, started: true, state: {running: {startedAt: "2025-03-09T16:30:05Z"}}}
`

/**
 * A pending Service `serve --demo` adds to the homelab, so the demo shows a second reason beside pihole-dns (which
 * no load balancer takes: no-implementation): this one asks for Cilium's class, which nothing here handles, so no
 * controller will ever act on it (class-not-served; pending-reasons.md §0.1).
 */
export const HOMELAB_PENDING_YAML = `
apiVersion: v1
kind: Service
metadata:
  name: home-assistant
  namespace: home
  creationTimestamp: "2025-03-20T10:15:00Z"
  labels: {app: home-assistant}
spec:
  type: LoadBalancer
  loadBalancerClass: io.cilium/l2-announcer
  clusterIP: 10.43.55.23
  selector: {app: home-assistant}
  ports:
    - {name: http, port: 8123, targetPort: 8123, nodePort: 30123, protocol: TCP}
status:
  loadBalancer: {}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: home-assistant-p7k2s
  namespace: home
  creationTimestamp: "2025-03-20T10:15:04Z"
  labels: {kubernetes.io/service-name: home-assistant, endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io}
addressType: IPv4
endpoints:
  - addresses: [10.42.0.61]
    conditions: {ready: true, serving: true, terminating: false}
    nodeName: node-a
    targetRef: {kind: Pod, namespace: home, name: home-assistant-0}
ports:
  - {name: http, port: 8123, protocol: TCP}
`
