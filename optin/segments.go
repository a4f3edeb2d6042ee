package optin

import "strings"

// SMS segment sizes: a text in the GSM 03.38 alphabet takes 7 bits a
// character (160 in one segment, 153 a segment once concatenated, the
// rest holding the concatenation header); any other text is sent in UCS-2
// (70, then 67 UTF-16 code units a segment).
const (
	gsmSingle  = 160
	gsmMulti   = 153
	ucs2Single = 70
	ucs2Multi  = 67
)

// gsmBasic is the GSM 03.38 default alphabet; gsmExtended its extension
// table, whose characters take two septets (escape + character).
const (
	gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
		"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsmExtended = "^{}\\[~]|€\f"
)

// Segments returns how many SMS segments text takes: 0 for an empty text.
func Segments(text string) int {
	if text == "" {
		return 0
	}
	septets, gsm := 0, true
	units := 0 // UTF-16 code units
	for _, r := range text {
		switch {
		case strings.ContainsRune(gsmBasic, r):
			septets++
		case strings.ContainsRune(gsmExtended, r):
			septets += 2
		default:
			gsm = false
		}
		if r >= 0x10000 {
			units += 2
		} else {
			units++
		}
	}
	if gsm {
		return count(septets, gsmSingle, gsmMulti)
	}
	return count(units, ucs2Single, ucs2Multi)
}

func count(n, single, multi int) int {
	if n <= single {
		return 1
	}
	return (n + multi - 1) / multi
}
