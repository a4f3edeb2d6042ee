package optin

import (
	"embed"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// DefaultPack is the pack every number has, whatever else it enables: it
// holds the FCC's and the carriers' revocation words.
const DefaultPack = "en"

// Pack is a versioned keyword list of one language: the words and phrases
// that revoke consent, ask for help or join a number's default campaign.
// Entries are kept as words in match form (see matchWords).
type Pack struct {
	Name    string
	Version int
	OptOut  [][]string // revoke as a whole message or within a short one; typos too
	Phrases [][]string // revoke wherever they stand (fuzzy)
	Help    map[string]bool
	OptIn   map[string]bool
	// NotTypo holds common words one letter away from an opt-out word that
	// are not read as its typo.
	NotTypo map[string]bool
}

//go:embed packs/*.txt
var packFiles embed.FS

// packs are the built-in packs by name, parsed once from packs/*.txt.
var packs = func() map[string]*Pack {
	entries, err := packFiles.ReadDir("packs")
	if err != nil {
		panic(err)
	}
	m := map[string]*Pack{}
	for _, e := range entries {
		src, err := packFiles.ReadFile(path.Join("packs", e.Name()))
		if err != nil {
			panic(err)
		}
		p, err := ParsePack(string(src))
		if err != nil {
			panic(fmt.Sprintf("optin: packs/%s: %v", e.Name(), err))
		}
		m[p.Name] = p
	}
	if m[DefaultPack] == nil {
		panic("optin: no " + DefaultPack + " pack")
	}
	return m
}()

// PackNames returns the names of the built-in packs, sorted.
func PackNames() []string {
	names := make([]string, 0, len(packs))
	for n := range packs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// LookupPack returns the built-in pack with the given name.
func LookupPack(name string) (*Pack, bool) {
	p, ok := packs[name]
	return p, ok
}

// ParsePack parses a pack file: "pack NAME", "version N", then lines of
// "KIND TEXT" with KIND one of optout, phrase, help, optin and nottypo;
// blank lines and lines starting with # are ignored.
func ParsePack(src string) (*Pack, error) {
	p := &Pack{Help: map[string]bool{}, OptIn: map[string]bool{}, NotTypo: map[string]bool{}}
	for i, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		kind, text, _ := strings.Cut(line, " ")
		text = strings.TrimSpace(text)
		ws := matchWords(Normalize(text))
		if text == "" || (kind != "pack" && kind != "version" && len(ws) == 0) {
			return nil, fmt.Errorf("line %d: %q has no words", i+1, line)
		}
		single := func(set map[string]bool) error {
			if len(ws) != 1 {
				return fmt.Errorf("line %d: %s entries are one word; %q is %d", i+1, kind, text, len(ws))
			}
			set[ws[0]] = true
			return nil
		}
		var err error
		switch kind {
		case "pack":
			p.Name = text
		case "version":
			p.Version, err = strconv.Atoi(text)
			if err == nil && p.Version < 1 {
				err = fmt.Errorf("line %d: version must be positive", i+1)
			}
		case "optout":
			p.OptOut = append(p.OptOut, ws)
		case "phrase":
			p.Phrases = append(p.Phrases, ws)
		case "help":
			err = single(p.Help)
		case "optin":
			err = single(p.OptIn)
		case "nottypo":
			err = single(p.NotTypo)
		default:
			err = fmt.Errorf("line %d: unknown kind %q", i+1, kind)
		}
		if err != nil {
			return nil, err
		}
	}
	if p.Name == "" || p.Version == 0 {
		return nil, fmt.Errorf("pack name and version are required")
	}
	return p, nil
}

// matchWords returns the words of normalised text in match form: without
// diacritics ("arrêt" → "arret"), split at anything but letters, digits and
// marks.
func matchWords(normalized string) []string {
	return words(stripMarks(normalized))
}

// stripMarks removes combining marks: "désabonner" → "desabonner".
func stripMarks(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	d := norm.NFD.String(s)
	var b strings.Builder
	b.Grow(len(d))
	for _, r := range d {
		if !unicode.Is(unicode.Mn, r) {
			b.WriteRune(r)
		}
	}
	return norm.NFC.String(b.String())
}

// packsOf returns the packs of number n: the default pack first, then the
// ones it enables, each once.
func (n *Number) packsOf() []*Pack {
	ps := []*Pack{packs[DefaultPack]}
	for _, name := range n.Packs {
		if p, ok := packs[name]; ok && !slices.Contains(ps, p) {
			ps = append(ps, p)
		}
	}
	return ps
}
