package configs

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/kineticsec/kinetic/internal/connspec"
	"gopkg.in/yaml.v3"
)

// Strict YAML decoding that reports every problem at once.
//
// yaml.v3's Decoder.KnownFields(true) reports unknown keys, but the decode
// stops at the first error returned by a custom unmarshaler (a bad duration,
// an inline secret), hiding every later problem. So decoding is done in two
// steps over a yaml.Node:
//
//  1. a walk directed by the target Go type reports unknown keys (with the
//     known ones), runs every custom unmarshaler on its node, reports its
//     error and removes that node so the decode can go on;
//  2. Node.Decode fills the struct; its *yaml.TypeError ("line N: cannot
//     unmarshal …", duplicate keys) lists every remaining problem, each
//     turned into an Error whose key is found from the line.
//
// The same walk indexes every key's dotted path and line, so semantic
// validation can report file:line:key.

// doc is one parsed YAML file: its name, its node tree and the index of key
// paths to lines.
type doc struct {
	file   string
	paths  map[string]int         // dotted path → line of its key
	byLine map[int][]indexedValue // line → values starting there
	errs   *Errors
	// bad holds the paths whose values could not be decoded; later
	// semantic problems at those paths are not reported on top.
	bad map[string]bool
	// fatal is set when the file is not a YAML mapping at all; semantic
	// validation is then skipped.
	fatal bool
	// extraKeys are keys a struct type accepts besides its fields (the
	// connector type blocks of ConnectorInstance), for unknown-key
	// messages.
	extraKeys map[reflect.Type][]string
	// blocks are the connector type blocks taken out of the tree.
	blocks []typeBlock
	// dirBlocks are the HR directory type blocks (directory.TYPE) taken
	// out of the tree; hrNode is the HR event block (Types.HR's key).
	dirBlocks []typeBlock
	hrNode    *yaml.Node
	// refusedAllow holds the outbound allowlist entries validation
	// refused (too broad, cloud metadata): the URL checks leave them out.
	refusedAllow map[string]bool
}

// refuseAllow leaves an outbound allowlist entry out of the URL checks.
func (d *doc) refuseAllow(entry string) {
	if d.refusedAllow == nil {
		d.refusedAllow = map[string]bool{}
	}
	d.refusedAllow[entry] = true
}

// allowed returns the allowlist entries validation did not refuse.
func (d *doc) allowed(entries []string) []string {
	if len(d.refusedAllow) == 0 {
		return entries
	}
	var out []string
	for _, e := range entries {
		if !d.refusedAllow[e] {
			out = append(out, e)
		}
	}
	return out
}

type indexedValue struct {
	path string
	node *yaml.Node
}

var (
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	lineRE          = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	valueRE         = regexp.MustCompile("`([^`]*)`")
)

// decodeStrict parses data into out, reporting problems into the returned
// doc's errs. out's fields are set as far as possible even when there are
// problems.
func decodeStrict(file string, data []byte, out any) *doc {
	return decodeStrictWith(file, data, out, nil)
}

// decodeStrictWith is decodeStrict with pre, when not nil, called on the
// indexed node tree before it is checked and decoded (to take out the
// connector type blocks, which out's type does not know).
func decodeStrictWith(file string, data []byte, out any, pre func(*doc, *yaml.Node)) *doc {
	d := &doc{file: file, paths: map[string]int{}, byLine: map[int][]indexedValue{}, errs: &Errors{}, bad: map[string]bool{}}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if err != io.EOF { // io.EOF: an empty file
			d.addErr(0, "", err)
			d.fatal = true
		}
		return d
	}
	if len(root.Content) == 1 && root.Content[0].Kind != yaml.MappingNode &&
		!(root.Content[0].Kind == yaml.ScalarNode && root.Content[0].ShortTag() == "!!null") {
		d.fatal = true
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.errs.add(file, extra.Line, "", "a configuration file holds one YAML document; found another")
	} else if err != io.EOF {
		d.addErr(0, "", err)
		d.fatal = true
	}
	d.index(&root, "")
	if pre != nil {
		pre(d, &root)
	}
	t := reflect.TypeOf(out).Elem()
	if d.walk(&root, t, "") {
		return d
	}
	if err := root.Decode(out); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, m := range te.Errors {
				d.addTypeError(m)
			}
		} else {
			d.addErr(0, "", err)
			d.fatal = true
		}
	}
	return d
}

// line returns the line of path's key, or of its nearest ancestor present
// in the file; 0 when none is.
func (d *doc) line(path string) int {
	for path != "" {
		if l, ok := d.paths[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// has reports whether path is written in the file.
func (d *doc) has(path string) bool {
	_, ok := d.paths[path]
	return ok
}

// add records a problem at path's line, unless path's value already failed
// to decode.
func (d *doc) add(path, format string, args ...any) {
	if d.bad[path] {
		return
	}
	d.errs.add(d.file, d.line(path), path, format, args...)
}

// addErr records err, taking its line from a "line N: " prefix when there is
// one and lineHint otherwise.
func (d *doc) addErr(lineHint int, path string, err error) {
	if path != "" {
		d.bad[path] = true
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		for _, m := range te.Errors {
			if m2 := lineRE.FindStringSubmatch(m); m2 != nil {
				m = m2[2]
			}
			d.errs.add(d.file, lineHint, path, "%s", m)
		}
		return
	}
	line, msg := lineHint, err.Error()
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	d.errs.add(d.file, line, path, "%s", msg)
}

// addTypeError turns one yaml.TypeError line into an Error, finding the key
// from the line (and, when several values start on it, from the value the
// message quotes).
func (d *doc) addTypeError(m string) {
	sm := lineRE.FindStringSubmatch(m)
	if sm == nil {
		d.errs.add(d.file, 0, "", "%s", m)
		return
	}
	line, _ := strconv.Atoi(sm[1])
	msg := sm[2]
	cands := d.byLine[line]
	path := ""
	if len(cands) > 0 {
		path = cands[0].path
		if vm := valueRE.FindStringSubmatch(msg); vm != nil && len(cands) > 1 {
			want := strings.TrimSuffix(vm[1], "...")
			for _, c := range cands {
				if c.node.Kind == yaml.ScalarNode && strings.HasPrefix(c.node.Value, want) {
					path = c.path
					break
				}
			}
		}
	}
	if path != "" {
		d.bad[path] = true
	}
	d.errs.add(d.file, line, path, "%s", msg)
}

// index records the line of every key and sequence item.
func (d *doc) index(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			d.byLine[c.Line] = append(d.byLine[c.Line], indexedValue{path, c})
			d.index(c, path)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := joinKey(path, k.Value)
			if _, dup := d.paths[p]; !dup {
				d.paths[p] = k.Line
			}
			d.byLine[v.Line] = append(d.byLine[v.Line], indexedValue{p, v})
			d.index(v, p)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := path + "[" + strconv.Itoa(i) + "]"
			d.paths[p] = c.Line
			d.byLine[c.Line] = append(d.byLine[c.Line], indexedValue{p, c})
			d.index(c, p)
		}
	}
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// walk checks n against Go type t: unknown keys, and custom unmarshalers'
// errors. It returns true when n itself failed a custom unmarshaler and must
// be removed before decoding; it removes failing children itself.
func (d *doc) walk(n *yaml.Node, t reflect.Type, path string) (drop bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 1 && d.walk(n.Content[0], t, path) {
			return true
		}
		return false
	case yaml.AliasNode:
		// Aliases are decoded by yaml.v3 (with its own expansion limits);
		// problems inside them surface from the decode.
		return false
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return false // yaml.v3 does not call unmarshalers for null
		}
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		u := reflect.New(t).Interface().(yaml.Unmarshaler)
		if err := u.UnmarshalYAML(n); err != nil {
			d.addErr(n.Line, path, err)
			return true
		}
		return false
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return false // the decode reports the type mismatch
		}
		fields := structFields(t)
		var dropped []int
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" && k.ShortTag() == "!!merge" {
				continue
			}
			p := joinKey(path, k.Value)
			ft, ok := fields.types[k.Value]
			if !ok {
				names := fields.names
				if extra := d.extraKeys[t]; len(extra) > 0 {
					names = slices.Sorted(slices.Values(append(slices.Clone(names), extra...)))
				}
				d.errs.add(d.file, k.Line, p, "unknown key %q (known keys: %s)", k.Value, strings.Join(names, ", "))
				continue
			}
			if d.walk(v, ft, p) {
				dropped = append(dropped, i)
			}
		}
		n.Content = removePairs(n.Content, dropped)
		return false
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return false
		}
		var dropped []int
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if d.walk(v, t.Elem(), joinKey(path, k.Value)) {
				dropped = append(dropped, i)
			}
		}
		n.Content = removePairs(n.Content, dropped)
		return false
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			return false
		}
		dropped := map[int]bool{}
		for i, c := range n.Content {
			if d.walk(c, t.Elem(), path+"["+strconv.Itoa(i)+"]") {
				dropped[i] = true
			}
		}
		if len(dropped) > 0 {
			kept := make([]*yaml.Node, 0, len(n.Content))
			for i, c := range n.Content {
				if !dropped[i] {
					kept = append(kept, c)
				}
			}
			n.Content = kept
		}
	}
	return false
}

// removePairs removes the key/value pairs starting at the given key indexes.
func removePairs(content []*yaml.Node, keys []int) []*yaml.Node {
	if len(keys) == 0 {
		return content
	}
	out := make([]*yaml.Node, 0, len(content)-2*len(keys))
	for i := 0; i+1 < len(content); i += 2 {
		if !slices.Contains(keys, i) {
			out = append(out, content[i], content[i+1])
		}
	}
	return out
}

type fieldSet struct {
	types map[string]reflect.Type
	names []string // sorted, for messages
}

var fieldCache sync.Map // reflect.Type → *fieldSet

// structFields returns the YAML keys of struct type t the way yaml.v3 names
// them: the tag's name, else the lower-cased field name; "-" is skipped and
// ",inline" structs contribute their own keys.
func structFields(t reflect.Type) *fieldSet {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.(*fieldSet)
	}
	fs := &fieldSet{types: map[string]reflect.Type{}}
	var add func(t reflect.Type)
	add = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag := f.Tag.Get("yaml")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if slices.Contains(strings.Split(opts, ","), "inline") {
				ft := f.Type
				for ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					add(ft)
				}
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			fs.types[name] = f.Type
		}
	}
	add(t)
	for n := range fs.types {
		fs.names = append(fs.names, n)
	}
	slices.Sort(fs.names)
	v, _ := fieldCache.LoadOrStore(t, fs)
	return v.(*fieldSet)
}

// typeBlock is one connector type block taken out of the node tree: the
// value of connectors.INSTANCE.TYPE.
type typeBlock struct {
	instance, typ string
	node          *yaml.Node
}

var connectorInstanceType = reflect.TypeFor[ConnectorInstance]()

// takeTypeBlocks takes every key of a connector instance that names a known
// type (types) out of root, into d.blocks, so the strict walk over Service
// does not see them; decodeTypeBlocks decodes them with the type's block.
func (d *doc) takeTypeBlocks(root *yaml.Node, all Types) {
	types := all.Connectors
	d.extraKeys = map[reflect.Type][]string{connectorInstanceType: typeNames(types), directorySourceType: all.directoryNames()}
	if all.HR != nil {
		d.extraKeys[serviceType] = []string{all.HR.Key}
	}
	top := root
	if top.Kind == yaml.DocumentNode && len(top.Content) == 1 {
		top = top.Content[0]
	}
	if top.Kind != yaml.MappingNode {
		return
	}
	var takenTop []int
	for i := 0; i+1 < len(top.Content); i += 2 {
		if all.HR != nil && top.Content[i].Value == all.HR.Key {
			d.hrNode = top.Content[i+1]
			takenTop = append(takenTop, i)
			continue
		}
		if top.Content[i].Value == "directory" && top.Content[i+1].Kind == yaml.MappingNode {
			dir := top.Content[i+1]
			var taken []int
			for k := 0; k+1 < len(dir.Content); k += 2 {
				if key := dir.Content[k].Value; all.findDirectory(key) != nil {
					d.dirBlocks = append(d.dirBlocks, typeBlock{typ: key, node: dir.Content[k+1]})
					taken = append(taken, k)
				}
			}
			dir.Content = removePairs(dir.Content, taken)
			continue
		}
		if top.Content[i].Value != "connectors" || top.Content[i+1].Kind != yaml.MappingNode {
			continue
		}
		insts := top.Content[i+1]
		for j := 0; j+1 < len(insts.Content); j += 2 {
			name, inst := insts.Content[j].Value, insts.Content[j+1]
			if inst.Kind != yaml.MappingNode {
				continue
			}
			var taken []int
			for k := 0; k+1 < len(inst.Content); k += 2 {
				key := inst.Content[k].Value
				if findType(types, key) != nil {
					d.blocks = append(d.blocks, typeBlock{instance: name, typ: key, node: inst.Content[k+1]})
					taken = append(taken, k)
				}
			}
			inst.Content = removePairs(inst.Content, taken)
		}
	}
	top.Content = removePairs(top.Content, takenTop)
}

var (
	directorySourceType = reflect.TypeFor[DirectorySource]()
	serviceType         = reflect.TypeFor[Service]()
)

// decodeBlock decodes a block taken out of the tree strictly into blk; it
// reports false when the block could not be used.
func (d *doc) decodeBlock(node *yaml.Node, blk any, path string) bool {
	if d.walk(node, reflect.TypeOf(blk), path) {
		return false
	}
	if err := node.Decode(blk); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			d.addErr(node.Line, path, err)
			return false
		}
		for _, m := range te.Errors {
			d.addTypeError(m)
		}
	}
	return true
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// decodeHRBlocks decodes the HR directory type blocks and the HR event
// block takeTypeBlocks took, into s.Directory.Block (the block of
// directory.type) and s.HR.
func (d *doc) decodeHRBlocks(s *Service) {
	ds := &s.Directory
	for _, b := range d.dirBlocks {
		ds.blocks = append(ds.blocks, b.typ)
		if isNull(b.node) {
			continue
		}
		blk := findDirectory(s.dirTypes, b.typ).NewBlock()
		if d.decodeBlock(b.node, blk, "directory."+b.typ) && b.typ == ds.Type {
			ds.Block = blk
		}
	}
	if d.hrNode != nil && s.hrSpec != nil && !isNull(d.hrNode) {
		blk := s.hrSpec.NewBlock()
		if d.decodeBlock(d.hrNode, blk, s.hrSpec.Key) {
			s.HR = blk
		}
	}
}

// decodeTypeBlocks decodes the blocks takeTypeBlocks took, strictly, into
// their type's NewBlock, and sets each instance's spec, blocks and Block
// (the block of its own type).
func (d *doc) decodeTypeBlocks(conns map[string]*ConnectorInstance, types []connspec.Spec) {
	for _, ci := range conns {
		if ci != nil {
			ci.spec = findType(types, ci.Type)
		}
	}
	for _, b := range d.blocks {
		ci := conns[b.instance]
		if ci == nil {
			continue
		}
		ci.blocks = append(ci.blocks, b.typ)
		if b.node.Kind == yaml.ScalarNode && b.node.ShortTag() == "!!null" {
			continue // no block, as yaml.v3 leaves a nil pointer
		}
		blk := findType(types, b.typ).NewBlock()
		path := joinKey(joinKey("connectors", b.instance), b.typ)
		if d.walk(b.node, reflect.TypeOf(blk), path) {
			continue
		}
		if err := b.node.Decode(blk); err != nil {
			var te *yaml.TypeError
			if !errors.As(err, &te) {
				d.addErr(b.node.Line, path, err)
				continue
			}
			for _, m := range te.Errors {
				d.addTypeError(m)
			}
		}
		if b.typ == ci.Type {
			ci.Block = blk
		}
	}
}
