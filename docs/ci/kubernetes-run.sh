#!/usr/bin/env bash
# Runs the Kubernetes example from start to end with kubectl (set to the
# cluster and namespace): creates the volumes, replaces any earlier run's
# Jobs, starts the shards (kubernetes-job.yaml), waits until that Job has
# finished, Complete or Failed (a failed index is a shard that found
# unexpected results or could not run), then runs the merge
# (kubernetes-merge.yaml), prints its log (the merged report) and exits
# with its status: the merged run's verdict as `kvmtest run` gives it (0,
# 1, 2, 3, 130); 3 as well when a Job does not finish in time.
#
# The image the manifests name (kvmtest:ci, docs/ci/Dockerfile) must be
# where the cluster pulls images from. KVMTEST_K8S_TIMEOUT: seconds to wait
# for each Job (default 6 h); KVMTEST_K8S_POLL: seconds between looks.
set -euo pipefail
cd "$(dirname "$0")"
timeout=${KVMTEST_K8S_TIMEOUT:-21600}
poll=${KVMTEST_K8S_POLL:-15}

# finished JOB prints Complete or Failed once the Job has that condition,
# and fails when it has neither after $timeout seconds.
finished() {
	local end=$((SECONDS + timeout)) conds
	while :; do
		conds=$(kubectl get job "$1" -o jsonpath='{range .status.conditions[?(@.status=="True")]}{.type}{"\n"}{end}')
		for c in Failed Complete; do
			if grep -qx "$c" <<<"$conds"; then
				echo "$c"
				return 0
			fi
		done
		if [ "$SECONDS" -ge "$end" ]; then
			echo "kubernetes-run: job $1 has not finished after ${timeout}s" >&2
			return 1
		fi
		sleep "$poll"
	done
}

kubectl apply -f kubernetes-volumes.yaml
kubectl delete job kvmtest kvmtest-merge --ignore-not-found --cascade=foreground
kubectl apply -f kubernetes-job.yaml
state=$(finished kvmtest) || exit 3
echo "kubernetes-run: shards $state; failed indexes (0-based): $(kubectl get job kvmtest -o jsonpath='{.status.failedIndexes}')"

kubectl apply -f kubernetes-merge.yaml
state=$(finished kvmtest-merge) || exit 3
kubectl logs job/kvmtest-merge || true
if [ "$state" = Complete ]; then
	exit 0
fi
code=$(kubectl get pods -l batch.kubernetes.io/job-name=kvmtest-merge --sort-by=.metadata.creationTimestamp \
	-o jsonpath='{.items[-1:].status.containerStatuses[0].state.terminated.exitCode}')
echo "kubernetes-run: merge exit status ${code:-unknown}" >&2
exit "${code:-3}"
