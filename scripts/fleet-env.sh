# shellcheck shell=bash
# Names and addresses of the lab fleet (fleet-up.sh, fleet-down.sh,
# nlb-health.sh, demo-fleet.sh): the lab of lab-env.sh whose appliance
# namespace becomes the NLB stand-in, spreading the mirror sources'
# VXLAN over FLEET_SIZE appliance namespaces.
# shellcheck source=lab-env.sh
. "$(dirname "${BASH_SOURCE[0]}")/lab-env.sh"

FLEET_SIZE=${VXTAP_FLEET_SIZE:-2}  # appliances, 2 or 3
NS_NLB=$NS_APP                     # the NLB stand-in: the lab's mirror target addresses lead here
VIP_V4=$APP_V4                     # the NLB's address: what the sources send their copies to
VIP_V6=$APP_V6
NLB_V4=198.18.0.2                  # the NLB namespace's own address on the VPC
NLB_V6=2001:db8:ff::2
DB_V4=198.18.20.1                  # the store's address (ClickHouse runs in the NLB namespace, behind the same router)

# Appliance i: namespace $P-apI, NIC $P-tI (vxtap attaches here), the
# NLB's side $P-nI, link 198.18.(10+I).0/24 and 2001:db8:f(I)::/64.
fleet_ns() { echo "$P-ap$1"; }
fleet_if() { echo "$P-t$1"; }
fleet_nlb_if() { echo "$P-n$1"; }
fleet_v4() { echo "198.18.$((10 + $1)).2"; }
fleet_gw4() { echo "198.18.$((10 + $1)).1"; }
fleet_v6() { echo "2001:db8:f$1::2"; }
fleet_gw6() { echo "2001:db8:f$1::1"; }

HEALTH_PORT=${VXTAP_HEALTH_PORT:-9781}          # each appliance's vxtap run --listen port (/healthz)
HEALTH_INTERVAL=${VXTAP_HEALTH_INTERVAL:-2}     # seconds between checks (AWS: 10 or 30)
HEALTH_TIMEOUT=${VXTAP_HEALTH_TIMEOUT:-1}       # seconds a check may take
HEALTH_UNHEALTHY=${VXTAP_HEALTH_UNHEALTHY:-2}   # failed checks in a row before a target is taken out
HEALTH_HEALTHY=${VXTAP_HEALTH_HEALTHY:-2}       # passed checks in a row before it is put back
FLEET_ENV=$LAB_STATE_DIR/$P.fleet.env           # machine-readable facts for tests and the demo
HEALTH_PID=$LAB_STATE_DIR/$P.health.pid         # the health checker's PID (fleet-down stops it)
HEALTH_STATE=$LAB_STATE_DIR/$P.health           # one line per target: I up|down
HEALTH_LOG=$LAB_STATE_DIR/$P.health.log
