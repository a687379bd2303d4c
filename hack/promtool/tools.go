//go:build tools

// Package tools pins the promtool command this module builds: `promtool check rules` and
// `promtool test rules` judge the chart's alerting rules in graphsync's tests.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
