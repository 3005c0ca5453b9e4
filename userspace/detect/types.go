package detect

import "fmt"

// Finding types, named as GuardDuty names them.
const (
	TypePortscan       = "Recon:EC2/Portscan"
	TypePortProbe      = "Recon:EC2/PortProbeUnprotectedPort"
	TypeMaliciousIP    = "UnauthorizedAccess:EC2/MaliciousIPCaller.Custom"
	TypeBitcoinTool    = "CryptoCurrency:EC2/BitcoinTool.B"
	TypeBitcoinToolDNS = "CryptoCurrency:EC2/BitcoinTool.B!DNS"
	TypeDNSExfil       = "Trojan:EC2/DNSDataExfiltration"
	TypeDoSTCP         = "Backdoor:EC2/DenialOfService.Tcp"
	TypeDoSUDP         = "Backdoor:EC2/DenialOfService.Udp"
	TypeSSHBrute       = "UnauthorizedAccess:EC2/SSHBruteForce"
	TypeRDPBrute       = "UnauthorizedAccess:EC2/RDPBruteForce"
	TypeVolume         = "Behavior:EC2/TrafficVolumeUnusual"
)

// GuardDuty's severity levels; a finding's value is the level's usual
// value (GuardDuty raises Low at 2, Medium at 5, High at 8).
const (
	SevLow    = 2.0
	SevMedium = 5.0
	SevHigh   = 8.0
)

// SeverityLabel is GuardDuty's name for a severity value: Low 1.0–3.9,
// Medium 4.0–6.9, High 7.0–8.9, Critical 9.0–10.0.
func SeverityLabel(s float64) string {
	switch {
	case s >= 9:
		return "Critical"
	case s >= 7:
		return "High"
	case s >= 4:
		return "Medium"
	}
	return "Low"
}

// typeInfo is a type's default severity per role and its wording.
type typeInfo struct {
	actor, target float64 // default severity by resource role
	title         string  // %[1]s instance (ENI or address), %[2]s remote
}

// catalogue holds each type's default severity as GuardDuty's EC2
// finding-types documentation gives it ("Default severity: ..."): the
// brute-force types are Low when the instance is the target and High when
// it is the actor; PortProbeUnprotectedPort is Low, High on
// Elasticsearch's ports (see probeSeverity). The DoS types are documented
// for the actor only; the target (the instance flooded) keeps High.
var catalogue = map[string]typeInfo{
	TypePortscan:       {SevMedium, SevMedium, "%[1]s is performing outbound port scans against %[2]s."},
	TypePortProbe:      {SevLow, SevLow, "Unprotected port on %[1]s is being probed by %[2]s."},
	TypeMaliciousIP:    {SevMedium, SevMedium, "%[1]s is communicating with %[2]s on a custom threat list."},
	TypeBitcoinTool:    {SevHigh, SevHigh, "%[1]s is communicating with %[2]s, a Bitcoin-related address or port."},
	TypeBitcoinToolDNS: {SevHigh, SevHigh, "%[1]s is querying %[2]s, a domain associated with cryptocurrency mining."},
	TypeDNSExfil:       {SevHigh, SevHigh, "%[1]s is exfiltrating data through DNS queries to %[2]s."},
	TypeDoSTCP:         {SevHigh, SevHigh, "%[1]s is involved in a TCP denial of service with %[2]s."},
	TypeDoSUDP:         {SevHigh, SevHigh, "%[1]s is involved in a UDP denial of service with %[2]s."},
	TypeSSHBrute:       {SevHigh, SevLow, "%[1]s is involved in SSH brute force attacks with %[2]s."},
	TypeRDPBrute:       {SevHigh, SevLow, "%[1]s is involved in RDP brute force attacks with %[2]s."},
	TypeVolume:         {SevHigh, SevHigh, "%[1]s is sending unusually large amounts of traffic to %[2]s."},
}

// Types lists every finding type vxtap raises.
func Types() []string {
	return []string{TypePortscan, TypePortProbe, TypeMaliciousIP, TypeBitcoinTool, TypeBitcoinToolDNS,
		TypeDNSExfil, TypeDoSTCP, TypeDoSUDP, TypeSSHBrute, TypeRDPBrute, TypeVolume}
}

// defaultSeverity is the catalogue's value for a type and role.
func defaultSeverity(typ string, role Role) float64 {
	ti := catalogue[typ]
	if role == Target {
		return ti.target
	}
	return ti.actor
}

// title words a finding's title.
func title(typ, instance, remote string) string {
	return fmt.Sprintf(catalogue[typ].title, instance, remote)
}

// descriptions say what each type means, as GuardDuty's descriptions do.
var descriptions = map[string]string{
	TypePortscan:       "The instance is trying to connect to many ports of one host, or to one port of many hosts, in a short time: a port scan.",
	TypePortProbe:      "A remote host is probing many ports of the instance in a short time; the first ports it probed are listed.",
	TypeMaliciousIP:    "The instance exchanged traffic with an address on a threat list configured in vxtap.",
	TypeBitcoinTool:    "The instance is connecting to a listed mining pool address or a Stratum mining port.",
	TypeBitcoinToolDNS: "The instance queried a domain name on the configured list of cryptocurrency mining domains.",
	TypeDNSExfil:       "The instance is sending DNS queries with long, high-entropy labels at a high rate: data may be leaving through DNS.",
	TypeDoSTCP:         "Many TCP SYNs towards one destination with few completed handshakes: a SYN flood.",
	TypeDoSUDP:         "A large volume of UDP traffic towards one destination: a UDP flood.",
	TypeSSHBrute:       "Many short connections to port 22 from one source: SSH password guessing.",
	TypeRDPBrute:       "Many short connections to port 3389 from one source: RDP password guessing.",
	TypeVolume:         "A source is sending far more traffic than its own recent baseline.",
}
