#!/bin/sh
# One-shot compose service (runs in the k3s image, which has kubectl): waits for the k3s API,
# gives kgw its least-privilege identity (deploy/base) plus the demo users' rights, and writes
# the kubeconfig kgw uses: server https://k3s:6443, k3s's CA, the kgw service account's token.
set -eu
admin=/tmp/admin.yaml
out=/kgw-kubeconfig/kubeconfig

echo "k3s-setup: waiting for k3s to write its kubeconfig"
until [ -s /k3s-output/kubeconfig.yaml ]; do sleep 1; done
# k3s writes https://127.0.0.1:6443; from this container the server is the k3s service.
sed 's#https://127.0.0.1:6443#https://k3s:6443#' /k3s-output/kubeconfig.yaml > "$admin"
export KUBECONFIG="$admin"
until kubectl get --raw /readyz >/dev/null 2>&1; do sleep 2; done

kubectl apply -f /deploy/base/namespace.yaml -f /deploy/base/rbac.yaml
kubectl apply -f /deploy/compose/demo-cluster.yaml

echo "k3s-setup: waiting for the kgw service-account token"
token=""
until [ -n "$token" ]; do
  token=$(kubectl -n kgw-system get secret kgw-token -o jsonpath='{.data.token}' | base64 -d)
  [ -n "$token" ] || sleep 1
done
ca=$(kubectl config view --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')

umask 077
cat > "$out.tmp" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
  - name: k3s
    cluster:
      server: https://k3s:6443
      certificate-authority-data: $ca
users:
  - name: kgw
    user:
      token: $token
contexts:
  - name: kgw@k3s
    context:
      cluster: k3s
      user: kgw
current-context: kgw@k3s
KUBECONFIG
# kgw runs as the image's non-root user (uid 1000).
chown 1000:1000 "$out.tmp"
mv "$out.tmp" "$out"
echo "k3s-setup: wrote $out for system:serviceaccount:kgw-system:kgw"
