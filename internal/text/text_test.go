package text

import "testing"

func TestClips(t *testing.T) {
	for _, tc := range []struct {
		name, got, want string
	}{
		{"bytes: short stays", ClipBytes("abc", 3), "abc"},
		{"bytes: cut marked", ClipBytes("abcdef", 3), "abc…"},
		{"bytes: cut on a rune boundary", ClipBytes("aé", 2), "a…"},
		{"runes: short stays", ClipRunes("héllo", 5), "héllo"},
		{"runes: cut counts runes", ClipRunes("héllo", 2), "hé…"},
		{"fit: the ellipsis counts", Fit("hello world", 6), "hello…"},
		{"fit: no space before the ellipsis", Fit("ab cd", 4), "ab…"},
		{"fit: nothing fits in 0", Fit("abc", 0), ""},
		{"one line", OneLine(" a\n b\t c "), "a b c"},
		{"plural of 1", Plural(1, "group"), "group"},
		{"plural of 2", Plural(2, "group"), "groups"},
		{"plural of 0", Plural(0, "group"), "groups"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

func TestDataLine(t *testing.T) {
	for in, want := range map[string]string{
		"  Dana\n\tWhitfield  ": "Dana Whitfield",
		"a\x00b\x1bc":           "abc",
		"bad \xff byte":         "bad byte",
		"":                      "",
	} {
		if got := DataLine(in); got != want {
			t.Errorf("DataLine(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMaskEmail(t *testing.T) {
	for in, want := range map[string]string{
		"dana.w@gmail.com": "d***@gmail.com", "ü@example.net": "ü***@example.net", "a@b@c.example": "a***@c.example",
		"": "***", "@gmail.com": "***", "dana@": "***", "no address": "***",
	} {
		if got := MaskEmail(in); got != want {
			t.Errorf("MaskEmail(%q) = %q, want %q", in, got, want)
		}
	}
}
