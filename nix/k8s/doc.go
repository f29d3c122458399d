// Package k8s holds offsite's Kubernetes manifests, written in Nix:
// cronjob.nix (the rgw-mirror CronJob as a plain function) and kubenix.nix
// (a kubenix module around it). Its tests evaluate them with nix-instantiate
// and decode the result strictly into the Kubernetes API types.
package k8s
