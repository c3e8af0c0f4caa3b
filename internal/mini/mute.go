package mini

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	bv1 "github.com/berty-go/berty/api/bertyv1"
)

// mute silences the selected conversation on all the account's devices
// (/mute [FOR|off]): no bell, no count in the title.
func (m *Model) mute(arg string) tea.Cmd {
	c := m.selected()
	if c == nil {
		m.say(lineError, "/mute: select the conversation to mute")
		return nil
	}
	if arg == "" {
		arg = "8h"
	}
	until, err := MuteUntil(arg, m.now())
	if err != nil {
		m.say(lineError, "/mute: "+err.Error())
		return nil
	}
	req := &bv1.MuteRequest{Topic: c.Topic}
	say := "unmuted " + convName(c)
	if !until.IsZero() {
		req.UntilMs = until.UnixMilli()
		say = fmt.Sprintf("muted %s until %s (/mute off unmutes)", convName(c), until.Local().Format("Mon 2 Jan 15:04"))
		if until.UnixMilli() == MaxMuteMs {
			say = fmt.Sprintf("muted %s (/mute off unmutes)", convName(c))
		}
	}
	return m.call("/mute", func(ctx context.Context) (outputMsg, error) {
		_, err := m.api.Mute(ctx, req)
		return outputMsg{convs: true, lines: []outLine{info("%s", say)}}, err
	})
}

// MuteUntil reads how long to mute (`berty mute`, /mute): a Go duration (90m, 8h), a number of days (3d) or
// weeks (2w), forever, or off (the zero time).
func MuteUntil(spec string, now time.Time) (time.Time, error) {
	spec = strings.ToLower(strings.TrimSpace(spec))
	switch spec {
	case "off", "0":
		return time.Time{}, nil
	case "forever":
		return time.UnixMilli(MaxMuteMs), nil
	}
	var d time.Duration
	if n, unit := spec[:max(len(spec)-1, 0)], spec[max(len(spec)-1, 0):]; unit == "d" || unit == "w" {
		k, err := strconv.Atoi(n)
		if err != nil || k <= 0 || k > 3650 {
			return time.Time{}, fmt.Errorf("mute for %q: days or weeks take a whole number from 1 (3d, 2w)", spec)
		}
		d = time.Duration(k) * 24 * time.Hour
		if unit == "w" {
			d *= 7
		}
	} else {
		var err error
		if d, err = time.ParseDuration(spec); err != nil || d < time.Minute {
			return time.Time{}, fmt.Errorf("mute for %q: give a duration of a minute or more (90m, 8h, 3d, 2w), forever or off", spec)
		}
	}
	return now.Add(d), nil
}

// MaxMuteMs is "forever": the end of year 9999 (the daemon's bound).
const MaxMuteMs = 253402300799999
