package api

import (
	"fmt"
	"net/url"
	"strings"
)

// parseRawQuery reads a query string as url.ParseQuery would, but a
// malformed pair is an error naming its parameter: url.Query() drops it
// without a word, and a filter that vanished that way answered with every
// flow as if none had been asked for.
func parseRawQuery(raw string) (url.Values, error) {
	v := url.Values{}
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		rawName, rawValue, _ := strings.Cut(pair, "=")
		name, err := url.QueryUnescape(rawName)
		if err != nil {
			return nil, &paramError{rawName, "bad %-escape in the name"}
		}
		if strings.Contains(pair, ";") {
			return nil, &paramError{name, `";" separates nothing here: join parameters with &`}
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			return nil, &paramError{name, fmt.Sprintf("bad %%-escape in %q", rawValue)}
		}
		v[name] = append(v[name], value)
	}
	return v, nil
}
