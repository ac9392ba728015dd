// Command etcd runs the etcd server at the version pinned in go.mod, for test/cluster.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
