package loader

// The index layout of the filter tables, from enum filter_layout of
// bpf/include/vxtap_shared.h: the same functions as the filter_*_index
// helpers of bpf/include/filter_lookup.h, over the same constants.
const (
	filterGens       = uint32(VxtapFilterLayoutFILTER_GENS)
	filterFields     = uint32(VxtapFilterLayoutFILTER_FIELDS)
	filterProtos     = uint32(VxtapFilterLayoutFILTER_PROTOS)
	filterPortBlocks = uint32(VxtapFilterLayoutFILTER_PORT_BLOCKS)
	portUniform      = uint32(VxtapFilterLayoutFILTER_PORT_UNIFORM) // port top entry: one bitset for the block
	vniSlots         = uint32(VxtapFilterLayoutFILTER_VNI_SLOTS)    // filter_vni entries a VNI's low bits pick
	vniStride        = uint32(VxtapFilterLayoutFILTER_VNI_STRIDE)   // filter_vni entries per generation: the slots, then the default
)

// filterTable is the table of a ruleset in a generation.
func filterTable(rs, gen uint32) uint32 { return rs*filterGens + gen }

// fieldTable is a per-field table: IPv4 root, IPv6 LPM scope, port table.
func fieldTable(table, field uint32) uint32 { return table*filterFields + field }

// protoIndex is a filter_proto entry.
func protoIndex(table, proto uint32) uint32 { return table*filterProtos + proto }

// portTopIndex is a filter_port_top entry: block blk (port / 256).
func portTopIndex(table, field, blk uint32) uint32 {
	return fieldTable(table, field)*filterPortBlocks + blk
}
