// Command kstatus prints what Flux's kstatus library (sigs.k8s.io/cli-utils/pkg/kstatus)
// computes for Kubernetes objects, so graphsync's tests can check its status against
// the real rules rather than a reading of them.
//
// Input on stdin: one object, or a List (`kubectl get -o json` output) of them.
// Output on stdout: a JSON array of {"kind", "name", "status", "message"}, in input order.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type verdict struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "kstatus: %v\n", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer) error {
	data, err := io.ReadAll(in)
	if err != nil {
		return err
	}
	// The unstructured scheme keeps integers as int64, as kstatus reads metadata.generation.
	decoded, _, err := unstructured.UnstructuredJSONScheme.Decode(data, nil, nil)
	if err != nil {
		return fmt.Errorf("stdin is not a Kubernetes object or List: %w", err)
	}
	var objects []unstructured.Unstructured
	switch found := decoded.(type) {
	case *unstructured.UnstructuredList:
		objects = found.Items
	case *unstructured.Unstructured:
		objects = []unstructured.Unstructured{*found}
	default:
		return fmt.Errorf("stdin holds a %T, not an object or a List", decoded)
	}
	verdicts := make([]verdict, 0, len(objects))
	for index := range objects {
		object := &objects[index]
		result, err := status.Compute(object)
		if err != nil {
			return fmt.Errorf("%s %s: %w", object.GetKind(), object.GetName(), err)
		}
		verdicts = append(verdicts, verdict{object.GetKind(), object.GetName(), result.Status.String(), result.Message})
	}
	encoder := json.NewEncoder(out)
	encoder.SetIndent("", "  ")
	return encoder.Encode(verdicts)
}
