// Package v1alpha1 holds the argoproj.io/v1alpha1 kinds that sluice serves: Rollout,
// AnalysisTemplate, ClusterAnalysisTemplate and AnalysisRun, plus Experiment, which is installed
// for the Argo tools but not acted on yet. Field names, JSON types and enum
// strings match Argo Rollouts, so existing manifests, tools and dashboards keep working.
// +kubebuilder:object:generate=true
// +groupName=argoproj.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of the kinds in this package.
	GroupVersion = schema.GroupVersion{Group: "argoproj.io", Version: "v1alpha1"}

	// SchemeBuilder registers this package's kinds with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds this package's kinds to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme

	// knownTypes are the kinds the type files register in their init functions.
	knownTypes []runtime.Object
)

// register records kinds for addKnownTypes.
func register(objs ...runtime.Object) { knownTypes = append(knownTypes, objs...) }

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, knownTypes...)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

// Kind names, for owner references and GroupVersionKinds.
const (
	RolloutKind                 = "Rollout"
	AnalysisTemplateKind        = "AnalysisTemplate"
	ClusterAnalysisTemplateKind = "ClusterAnalysisTemplate"
	AnalysisRunKind             = "AnalysisRun"
	ExperimentKind              = "Experiment"
)
