package main

import (
	"fmt"
	"math"

	"github.com/urfave/cli/v2"
	"github.com/vxtap/vxtap/userspace/export/ipfix"
	"github.com/vxtap/vxtap/userspace/pipeline"
)

// Flow records to an IPFIX collector (nfdump's nfcapd, pmacct's nfacctd,
// goflow2, akvorado, ntopng): --ipfix HOST:PORT (UDP) or tcp://HOST:PORT.
func init() {
	registerOutput(output{
		name: "ipfix",
		flags: []cli.Flag{
			&cli.StringFlag{Name: "ipfix", Usage: "export flow records over IPFIX to this collector: HOST:PORT or udp://HOST:PORT (UDP), tcp://HOST:PORT (TCP)"},
			&cli.Uint64Flag{Name: "ipfix-domain", Value: 1, Usage: "IPFIX observation domain ID of this appliance's export"},
			&cli.DurationFlag{Name: "ipfix-template-refresh", Value: ipfix.DefaultTemplateRefresh, Usage: "resend the IPFIX templates this often over UDP (TCP sends them once per connection)"},
			&cli.IntFlag{Name: "ipfix-mtu", Value: ipfix.DefaultMTU, Usage: "path MTU to the UDP collector: IPFIX messages stay under it"},
		},
		build: func(c *cli.Context, _ outputEnv) (pipeline.Outputs, error) {
			target := c.String("ipfix")
			if target == "" {
				for _, f := range []string{"ipfix-domain", "ipfix-template-refresh", "ipfix-mtu"} {
					if c.IsSet(f) {
						return pipeline.Outputs{}, fmt.Errorf("flag --%s: needs --ipfix", f)
					}
				}
				return pipeline.Outputs{}, nil
			}
			network, addr, err := ipfix.ParseTarget(target)
			if err != nil {
				return pipeline.Outputs{}, fmt.Errorf("flag --ipfix: %w", err)
			}
			domain := c.Uint64("ipfix-domain")
			if domain > math.MaxUint32 {
				return pipeline.Outputs{}, fmt.Errorf("flag --ipfix-domain: %d is over 4294967295", domain)
			}
			refresh := c.Duration("ipfix-template-refresh")
			if refresh <= 0 {
				return pipeline.Outputs{}, fmt.Errorf("flag --ipfix-template-refresh: %v: want a positive interval", refresh)
			}
			mtu := c.Int("ipfix-mtu")
			if mtu < ipfix.MinMTU || mtu > 65535 {
				return pipeline.Outputs{}, fmt.Errorf("flag --ipfix-mtu: %d: want %d-65535", mtu, ipfix.MinMTU)
			}
			e, err := ipfix.New(ipfix.Config{Network: network, Addr: addr, Domain: uint32(domain), MTU: mtu, TemplateRefresh: refresh})
			if err != nil {
				return pipeline.Outputs{}, fmt.Errorf("flag --ipfix: %w", err)
			}
			return pipeline.Outputs{Records: []pipeline.RecordSink{e}}, nil
		},
	})
}
