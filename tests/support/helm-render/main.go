// tributary-helm-render renders a Helm 3 chart the way `helm template` does,
// for tests and `make manifests` on machines without Helm (it is not packaged
// in Debian). It is built from Debian's Go packages only, in GOPATH mode:
//
//   - Go's text/template, the engine Helm uses;
//   - github.com/Masterminds/sprig/v3 (golang-github-masterminds-sprig-dev),
//     Helm's function library, minus env and expandenv as in Helm;
//   - sigs.k8s.io/yaml (golang-k8s-sigs-yaml-dev), Helm's YAML library:
//     values are read with yaml.Unmarshal (numbers become float64, as in Helm)
//     and toYaml is yaml.Marshal with the final newline trimmed;
//   - github.com/xeipuuv/gojsonschema (golang-github-xeipuuv-gojsonschema-dev),
//     the validator Helm 3 runs values.schema.json with.
//
// What it reproduces from Helm 3 (pkg/engine, pkg/action, pkg/releaseutil):
// every file under templates/ is parsed into one template set named
// "<chart>/templates/<file>"; files whose name starts with "_" are not
// rendered; include, tpl, required, toYaml/fromYaml/toJson/fromJson and the
// .Values/.Release/.Chart/.Capabilities/.Template objects; missing keys are
// empty ("<no value>" removed); each rendered file is split into documents
// at "---" lines, each trimmed; documents are ordered by Helm's install
// order of kinds (unknown kinds last, alphabetically), stable by file path
// then position; the output is "---\n# Source: <file>\n<document>\n" per
// document, CRDs from crds/ first and verbatim with --include-crds, the whole
// trimmed and ended by one newline. NOTES.txt is rendered (an error in it is
// an error) but printed only with --notes.
//
// Not supported (the chart does not use them): subcharts, hooks, .Files,
// lookup (returns an empty map, as helm template does), --set with list indices.
//
// Usage: tributary-helm-render [--include-crds] [--notes] [--namespace NS]
//
//	[--release-name NAME] [-f values.yaml]... [--set a.b=v]... [--set-string a.b=v]... CHART_DIR
//
// Exit 0 with the manifests on stdout; 1 with the error on stderr.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"

	sprig "github.com/Masterminds/sprig"
	"github.com/xeipuuv/gojsonschema"
	"sigs.k8s.io/yaml"
)

type values = map[string]interface{}

// chartMetadata mirrors the fields of Helm's chart.Metadata that templates read as .Chart.*.
type chartMetadata struct {
	Name        string   `json:"name"`
	Home        string   `json:"home,omitempty"`
	Sources     []string `json:"sources,omitempty"`
	Version     string   `json:"version"`
	Description string   `json:"description,omitempty"`
	Keywords    []string `json:"keywords,omitempty"`
	Icon        string   `json:"icon,omitempty"`
	APIVersion  string   `json:"apiVersion"`
	Condition   string   `json:"condition,omitempty"`
	Tags        string   `json:"tags,omitempty"`
	AppVersion  string   `json:"appVersion,omitempty"`
	Deprecated  bool     `json:"deprecated,omitempty"`
	KubeVersion string   `json:"kubeVersion,omitempty"`
	Type        string   `json:"type,omitempty"`
}

// versionSet is .Capabilities.APIVersions.
type versionSet []string

func (v versionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

type kubeVersion struct{ Version, Major, Minor string }

func (k kubeVersion) String() string     { return k.Version }
func (k kubeVersion) GitVersion() string { return k.Version }

type capabilities struct {
	APIVersions versionSet
	KubeVersion kubeVersion
	HelmVersion map[string]string
}

// What `helm template` assumes without a cluster (chartutil.DefaultCapabilities).
var defaultCapabilities = capabilities{
	APIVersions: versionSet{"v1", "apps/v1", "batch/v1", "policy/v1", "rbac.authorization.k8s.io/v1",
		"admissionregistration.k8s.io/v1", "apiextensions.k8s.io/v1", "coordination.k8s.io/v1"},
	KubeVersion: kubeVersion{Version: "v1.20.0", Major: "1", Minor: "20"},
	HelmVersion: map[string]string{"version": "v3"},
}

// Helm's releaseutil.InstallOrder.
var installOrder = []string{
	"PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
	"PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass",
	"PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole", "ClusterRoleList",
	"ClusterRoleBinding", "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList",
	"Service", "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
	"HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService",
}

type options struct {
	chartDir         string
	releaseName      string
	namespace        string
	includeCrds      bool
	notes            bool
	valueFiles       []string
	sets, stringSets []string
}

func parseArgs(args []string) (options, error) {
	o := options{releaseName: "tributary", namespace: "default"}
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, value, hasValue := strings.Cut(a, "=")
		if !strings.HasPrefix(a, "--") {
			name, hasValue = a, false
		}
		take := func() (string, error) {
			if hasValue {
				return value, nil
			}
			if i+1 < len(args) {
				i++
				return args[i], nil
			}
			return "", fmt.Errorf("%s needs a value", name)
		}
		var err error
		var v string
		switch name {
		case "--include-crds":
			o.includeCrds = true
		case "--notes":
			o.notes = true
		case "--namespace", "-n":
			o.namespace, err = take()
		case "--release-name":
			o.releaseName, err = take()
		case "-f", "--values":
			v, err = take()
			o.valueFiles = append(o.valueFiles, v)
		case "--set":
			v, err = take()
			o.sets = append(o.sets, v)
		case "--set-string":
			v, err = take()
			o.stringSets = append(o.stringSets, v)
		default:
			if strings.HasPrefix(a, "-") {
				return o, fmt.Errorf("unknown flag %s", a)
			}
			if o.chartDir != "" {
				return o, fmt.Errorf("one chart directory only, got %s and %s", o.chartDir, a)
			}
			o.chartDir = a
		}
		if err != nil {
			return o, err
		}
	}
	if o.chartDir == "" {
		return o, errors.New("usage: tributary-helm-render [--include-crds] [--notes] [--namespace NS] " +
			"[--release-name NAME] [-f values.yaml]... [--set a.b=v]... [--set-string a.b=v]... CHART_DIR")
	}
	return o, nil
}

// readValues parses YAML as Helm's chartutil.ReadValues does.
func readValues(data []byte) (values, error) {
	v := values{}
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	if v == nil {
		v = values{}
	}
	return v, nil
}

// coalesce merges src over dst as Helm merges user values over chart
// defaults: maps merge key by key, anything else replaces, null deletes.
func coalesce(dst, src values) values {
	for k, sv := range src {
		if sv == nil {
			delete(dst, k)
			continue
		}
		dm, dok := dst[k].(map[string]interface{})
		sm, sok := sv.(map[string]interface{})
		if dok && sok {
			dst[k] = coalesce(dm, sm)
		} else {
			dst[k] = sv
		}
	}
	return dst
}

// setValue applies one "a.b.c=value" of --set (typed) or --set-string.
func setValue(into values, expr string, typed bool) error {
	for _, assignment := range strings.Split(expr, ",") {
		key, raw, ok := strings.Cut(assignment, "=")
		if !ok || key == "" {
			return fmt.Errorf("--set %q: expected key=value", assignment)
		}
		var v interface{} = raw
		if typed {
			switch {
			case raw == "true":
				v = true
			case raw == "false":
				v = false
			case raw == "null":
				v = nil
			default:
				if n, err := strconv.ParseInt(raw, 10, 64); err == nil && (raw == "0" || !strings.HasPrefix(raw, "0")) {
					v = n
				}
			}
		}
		parts := strings.Split(key, ".")
		m := into
		for _, p := range parts[:len(parts)-1] {
			next, ok := m[p].(map[string]interface{})
			if !ok {
				next = values{}
				m[p] = next
			}
			m = next
		}
		m[parts[len(parts)-1]] = v
	}
	return nil
}

// validateSchema runs values.schema.json as Helm's chartutil.ValidateAgainstSingleSchema does.
func validateSchema(chartName string, v values, schema []byte) error {
	data, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	valuesJSON, err := yaml.YAMLToJSON(data)
	if err != nil {
		return err
	}
	if bytes.Equal(valuesJSON, []byte("null")) {
		valuesJSON = []byte("{}")
	}
	result, err := gojsonschema.Validate(gojsonschema.NewBytesLoader(schema), gojsonschema.NewBytesLoader(valuesJSON))
	if err != nil {
		return fmt.Errorf("values.schema.json: %v", err)
	}
	if !result.Valid() {
		var sb strings.Builder
		for _, desc := range result.Errors() {
			sb.WriteString(fmt.Sprintf("- %s\n", desc))
		}
		return fmt.Errorf("values don't meet the specifications of the schema(s) in the following chart(s):\n%s:\n%s",
			chartName, sb.String())
	}
	return nil
}

func toYAML(v interface{}) string {
	data, err := yaml.Marshal(v)
	if err != nil {
		return "" // Helm swallows errors inside templates
	}
	return strings.TrimSuffix(string(data), "\n")
}

func fromYAML(str string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(str), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func toJSON(v interface{}) string {
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(data)
}

func fromJSON(str string) map[string]interface{} {
	m := make(map[string]interface{})
	if err := json.Unmarshal([]byte(str), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

// funcMap is Helm's engine funcMap plus the late-bound include, tpl and required.
func funcMap(t *template.Template) template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	f["toYaml"] = toYAML
	f["fromYaml"] = fromYAML
	f["toJson"] = toJSON
	f["fromJson"] = fromJSON
	f["lookup"] = func(string, string, string, string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	}
	depth := map[string]int{}
	f["include"] = func(name string, data interface{}) (string, error) {
		if depth[name] > 1000 {
			return "", fmt.Errorf("rendering template has a nested reference name: %s", name)
		}
		depth[name]++
		defer func() { depth[name]-- }()
		var buf strings.Builder
		err := t.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	f["required"] = func(warn string, val interface{}) (interface{}, error) {
		if val == nil {
			return val, errors.New(warn)
		}
		if s, ok := val.(string); ok && s == "" {
			return val, errors.New(warn)
		}
		return val, nil
	}
	f["tpl"] = func(tpl string, vals interface{}) (string, error) {
		clone, err := t.Clone()
		if err != nil {
			return "", err
		}
		clone.Option("missingkey=zero")
		parsed, err := clone.New("tpl").Funcs(funcMap(clone)).Parse(tpl)
		if err != nil {
			return "", fmt.Errorf("cannot parse template %q: %v", tpl, err)
		}
		var buf strings.Builder
		if err := parsed.Execute(&buf, vals); err != nil {
			return "", fmt.Errorf("error during tpl function execution for %q: %v", tpl, err)
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	return f
}

type document struct {
	source  string
	content string
	kind    string
}

var separator = regexp.MustCompile(`(?:^|\s*\n)---\s*`)

// splitManifests is Helm's releaseutil.SplitManifests: documents in file order, each trimmed.
func splitManifests(text string) []string {
	var docs []string
	for _, d := range separator.Split(strings.TrimSpace(text), -1) {
		if d == "" {
			continue
		}
		docs = append(docs, strings.TrimSpace(d))
	}
	return docs
}

func kindRank(kind string) (int, bool) {
	for i, k := range installOrder {
		if k == kind {
			return i, true
		}
	}
	return 0, false
}

// lessByKind is Helm's releaseutil.lessByKind.
func lessByKind(a, b string) bool {
	first, aok := kindRank(a)
	second, bok := kindRank(b)
	if !aok && !bok {
		if a != b {
			return a < b
		}
		return first < second
	}
	if !aok {
		return false
	}
	if !bok {
		return true
	}
	return first < second
}

func render(o options) (string, string, error) {
	chartYaml, err := os.ReadFile(filepath.Join(o.chartDir, "Chart.yaml"))
	if err != nil {
		return "", "", err
	}
	var meta chartMetadata
	if err := yaml.Unmarshal(chartYaml, &meta); err != nil {
		return "", "", fmt.Errorf("Chart.yaml: %v", err)
	}
	if meta.APIVersion != "v2" || meta.Name == "" || meta.Version == "" {
		return "", "", errors.New("Chart.yaml: apiVersion v2, name and version are required")
	}

	vals := values{}
	if data, err := os.ReadFile(filepath.Join(o.chartDir, "values.yaml")); err == nil {
		if vals, err = readValues(data); err != nil {
			return "", "", fmt.Errorf("values.yaml: %v", err)
		}
	}
	user := values{}
	for _, f := range o.valueFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", "", err
		}
		fv, err := readValues(data)
		if err != nil {
			return "", "", fmt.Errorf("%s: %v", f, err)
		}
		user = coalesce(user, fv)
	}
	for _, s := range o.sets {
		if err := setValue(user, s, true); err != nil {
			return "", "", err
		}
	}
	for _, s := range o.stringSets {
		if err := setValue(user, s, false); err != nil {
			return "", "", err
		}
	}
	vals = coalesce(vals, user)
	if schema, err := os.ReadFile(filepath.Join(o.chartDir, "values.schema.json")); err == nil {
		if err := validateSchema(meta.Name, vals, schema); err != nil {
			return "", "", err
		}
	}

	// Templates, parsed into one set as Helm's engine does.
	entries, err := os.ReadDir(filepath.Join(o.chartDir, "templates"))
	if err != nil {
		return "", "", err
	}
	t := template.New("gotpl")
	t.Option("missingkey=zero")
	t.Funcs(funcMap(t))
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			return "", "", fmt.Errorf("templates/%s: subdirectories are not supported by this renderer", e.Name())
		}
		name := path.Join(meta.Name, "templates", e.Name())
		data, err := os.ReadFile(filepath.Join(o.chartDir, "templates", e.Name()))
		if err != nil {
			return "", "", err
		}
		if _, err := t.New(name).Parse(string(data)); err != nil {
			return "", "", fmt.Errorf("parse error in %q: %v", name, err)
		}
		names = append(names, name)
	}
	sort.Strings(names)

	top := map[string]interface{}{
		"Values": vals,
		"Release": map[string]interface{}{
			"Name": o.releaseName, "Namespace": o.namespace, "IsUpgrade": false, "IsInstall": true,
			"Revision": 1, "Service": "Helm",
		},
		"Chart":        meta,
		"Capabilities": defaultCapabilities,
		"Files":        map[string]interface{}{},
	}
	var docs []document
	notes := ""
	for _, name := range names {
		if strings.HasPrefix(path.Base(name), "_") {
			continue
		}
		top["Template"] = map[string]interface{}{"Name": name, "BasePath": path.Join(meta.Name, "templates")}
		var buf strings.Builder
		if err := t.ExecuteTemplate(&buf, name, top); err != nil {
			return "", "", err
		}
		out := strings.ReplaceAll(buf.String(), "<no value>", "")
		if strings.HasSuffix(name, "NOTES.txt") {
			notes = out
			continue
		}
		if strings.TrimSpace(out) == "" {
			continue
		}
		for _, d := range splitManifests(out) {
			var head struct {
				Kind     string `json:"kind"`
				Metadata struct {
					Annotations map[string]string `json:"annotations"`
				} `json:"metadata"`
			}
			if err := yaml.Unmarshal([]byte(d), &head); err != nil {
				return "", "", fmt.Errorf("YAML parse error on %s: %v", name, err)
			}
			if _, hook := head.Metadata.Annotations["helm.sh/hook"]; hook {
				return "", "", fmt.Errorf("%s: hooks are not supported by this renderer", name)
			}
			docs = append(docs, document{source: name, content: d, kind: head.Kind})
		}
	}
	sort.SliceStable(docs, func(i, j int) bool { return lessByKind(docs[i].kind, docs[j].kind) })

	var b strings.Builder
	if o.includeCrds {
		crdDir := filepath.Join(o.chartDir, "crds")
		if crds, err := os.ReadDir(crdDir); err == nil {
			for _, e := range crds {
				ext := filepath.Ext(e.Name())
				if e.IsDir() || (ext != ".yaml" && ext != ".yml" && ext != ".json") {
					continue
				}
				data, err := os.ReadFile(filepath.Join(crdDir, e.Name()))
				if err != nil {
					return "", "", err
				}
				fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", path.Join(meta.Name, "crds", e.Name()), string(data))
			}
		}
	}
	for _, d := range docs {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", d.source, d.content)
	}
	return strings.TrimSpace(b.String()) + "\n", notes, nil
}

func main() {
	o, err := parseArgs(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "tributary-helm-render:", err)
		os.Exit(2)
	}
	manifests, notes, err := render(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
	if o.notes {
		fmt.Print(notes)
		return
	}
	fmt.Print(manifests)
}
