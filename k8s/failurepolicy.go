package k8s

import (
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// FailureAction is what the Job controller does with a failed pod of job
// whose container exited with code, as its podFailurePolicy says: the first
// rule that matches applies, and a failure no rule matches counts against
// backoffLimit (Count). disrupted says the pod has the DisruptionTarget
// condition (evicted, preempted, its node drained).
func FailureAction(job *batchv1.Job, container string, code int32, disrupted bool) batchv1.PodFailurePolicyAction {
	if job.Spec.PodFailurePolicy == nil {
		return batchv1.PodFailurePolicyActionCount
	}
	for _, rule := range job.Spec.PodFailurePolicy.Rules {
		if ruleMatches(rule, container, code, disrupted) {
			return rule.Action
		}
	}
	return batchv1.PodFailurePolicyActionCount
}

func ruleMatches(rule batchv1.PodFailurePolicyRule, container string, code int32, disrupted bool) bool {
	if on := rule.OnExitCodes; on != nil {
		if on.ContainerName != nil && *on.ContainerName != container {
			return false
		}
		in := slices.Contains(on.Values, code)
		return in == (on.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn) && code != 0
	}
	for _, c := range rule.OnPodConditions {
		if c.Type == corev1.DisruptionTarget && c.Status != corev1.ConditionFalse && disrupted {
			return true
		}
	}
	return false
}
