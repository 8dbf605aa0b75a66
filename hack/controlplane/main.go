// Command controlplane is one multicall binary for the local test bed: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kubectl, built from the published Kubernetes modules.
//
// It dispatches on the name it was called by (symlinks named after each component) or, when
// called as "controlplane", on its first argument: `controlplane kube-apiserver --flags...`.
// Only the selected component's command is constructed: since 1.31 every New*Command registers
// global feature gates, so building all of them up front would conflict.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	_ "time/tzdata" // CronJob time zones, as upstream's kube-apiserver does

	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	kubectl "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

var components = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"}

func run(name string) int {
	switch name {
	case "etcd":
		etcdmain.Main(os.Args)
		return 0
	case "kube-apiserver":
		return cli.Run(apiserver.NewAPIServerCommand())
	case "kube-controller-manager":
		return cli.Run(controllermanager.NewControllerManagerCommand())
	case "kube-scheduler":
		return cli.Run(scheduler.NewSchedulerCommand())
	case "kubectl":
		if err := cli.RunNoErrOutput(kubectl.NewDefaultKubectlCommand()); err != nil {
			kubectlutil.CheckErr(err)
		}
		return 0
	}
	return -1
}

func main() {
	name := filepath.Base(os.Args[0])
	if name != "controlplane" {
		if code := run(name); code >= 0 {
			os.Exit(code)
		}
	}
	if len(os.Args) > 1 {
		name = os.Args[1]
		// cobra and etcdmain read os.Args themselves: drop the subcommand word.
		os.Args = append([]string{name}, os.Args[2:]...)
		if code := run(name); code >= 0 {
			os.Exit(code)
		}
	}
	fmt.Fprintf(os.Stderr, "usage: controlplane {%s} [flags]\n", fmt.Sprint(components))
	os.Exit(2)
}
