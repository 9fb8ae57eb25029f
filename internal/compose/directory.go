package compose

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/directory/hrsource"
	"github.com/kineticsec/kinetic/internal/outbound"
)

// OpenHRDirectory opens the configured directory source.
//
// Type file returns a *directory.File (configs.Config.OpenFileDirectory:
// the bundled sample, or directory.file, re-read when it changes if
// directory.reload is set). An HR system type is built by its descriptor
// in table.Directories (*bamboohr.Source, *workday.Source, *scim.Source),
// each a directory.Directory, directory.Lister and directory.Refresher,
// calling out through an HTTP client from the outbound URL policy; its
// URLs are checked against the policy again now (a refusal is an error
// wrapping outbound.ErrURLRefused; a host that cannot be resolved now is
// not, the client checks every connection anyway). Nothing is fetched: the
// first lookup, or Refresh, fetches. log receives reloads and refreshes
// (nil discards them).
func OpenHRDirectory(ctx context.Context, cfg *configs.Config, log *logrus.Entry) (directory.Directory, error) {
	return All().OpenHRDirectory(ctx, cfg, log)
}

// OpenHRDirectory is OpenHRDirectory with t's HR directory source types.
func (t Tables) OpenHRDirectory(ctx context.Context, cfg *configs.Config, log *logrus.Entry) (directory.Directory, error) {
	types := t.Directories
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = logrus.NewEntry(l)
	}
	log = log.WithField("component", "directory")
	ds := cfg.Service.Directory
	typ := ds.Type
	if typ == "" || typ == configs.DirectoryFile {
		f, err := cfg.OpenFileDirectory(log)
		if err != nil {
			return nil, err
		}
		return f, nil
	}
	i := slices.IndexFunc(types, func(d directory.Descriptor) bool { return d.Spec.Type == typ })
	if i < 0 {
		return nil, fmt.Errorf("directory: unknown type %q (known: %s)", ds.Type, strings.Join(cfg.Service.DirectoryTypes(), ", "))
	}
	desc := types[i]
	if ds.Block == nil {
		return nil, fmt.Errorf("directory: type %s needs a %s: block", typ, typ)
	}
	policy, err := outbound.NewURLPolicy(cfg.Service.Outbound.AllowCIDRs, cfg.Service.Outbound.AllowHosts)
	if err != nil {
		return nil, err
	}
	src, err := desc.New(ds.Block, directory.Deps{HTTP: policy.HTTPClient(hrsource.DefaultRequestTimeout), TTL: ds.TTL.D(), Log: log})
	if err != nil {
		return nil, fmt.Errorf("directory.%s: %w", typ, err)
	}
	if desc.Spec.URLs != nil {
		urls := desc.Spec.URLs(ds.Block)
		for _, key := range slices.Sorted(maps.Keys(urls)) {
			if err := policy.CheckURL(ctx, urls[key]); errors.Is(err, outbound.ErrURLRefused) {
				return nil, fmt.Errorf("directory.%s.%s: %w", typ, key, err)
			}
		}
	}
	return src, nil
}
