// sparse_dsp_group: one DSP group (DG) of the CSD-Chain = 2 hard-cascaded packed DSP slices followed by a
// Reduction Node (RN) (spec fpga_sparse_dsp.md 3.1).
//
//   pcin --> slice 2G --> slice 2G+1 --> RN --+--> cas (PCIN of DG G+1): 0 on cut, the partial sum on pass
//                                             +--> emitted sum (on cut, or always for the last DG), deskewed
//                                                  by CHAIN - 2G - 2 registers so that every DG's sums for one
//                                                  pass leave the chain together in that pass's output beat.
//
// The RN's config bit `cut` arrives with the pass (undelayed) and is skewed by 2G + 2 registers, the cycle
// in which the pass's partial sum sits in slice 2G+1's P register. The last DG always emits.
module sparse_dsp_group #(
    parameter G     = 0,
    parameter CHAIN = 8,
    parameter M     = 16,
    parameter IDXW  = 4,
    parameter ACCW  = 20
) (
    input  wire                   clk,
    input  wire                   rst,
    input  wire                   en,
    input  wire [M*8-1:0]         cand0_a,
    input  wire [M*8-1:0]         cand0_b,
    input  wire [M*8-1:0]         cand1_a,
    input  wire [M*8-1:0]         cand1_b,
    input  wire [IDXW-1:0]        idx0,
    input  wire [IDXW-1:0]        idx1,
    input  wire [7:0]             w0,
    input  wire [7:0]             w1,
    input  wire                   cut,
    input  wire signed [ACCW-1:0] pcin_a,
    input  wire signed [ACCW-1:0] pcin_b,
    output wire signed [ACCW-1:0] cas_a,
    output wire signed [ACCW-1:0] cas_b,
    output wire                   emit,
    output wire [ACCW-1:0]        sum_a,
    output wire [ACCW-1:0]        sum_b
);
    localparam LAST = (2 * G + 2 >= CHAIN);

    wire signed [ACCW-1:0] p0_a, p0_b, p1_a, p1_b;

    sparse_dsp_slice #(.M(M), .IDXW(IDXW), .ACCW(ACCW), .SKEW(2 * G)) u_dsp0 (
        .clk(clk), .rst(rst), .en(en), .cand_a(cand0_a), .cand_b(cand0_b), .idx(idx0), .w(w0),
        .pcin_a(pcin_a), .pcin_b(pcin_b), .pcout_a(p0_a), .pcout_b(p0_b)
    );
    sparse_dsp_slice #(.M(M), .IDXW(IDXW), .ACCW(ACCW), .SKEW(2 * G + 1)) u_dsp1 (
        .clk(clk), .rst(rst), .en(en), .cand_a(cand1_a), .cand_b(cand1_b), .idx(idx1), .w(w1),
        .pcin_a(p0_a), .pcin_b(p0_b), .pcout_a(p1_a), .pcout_b(p1_b)
    );

    // reduction node: config bit aligned with the pass's partial sum in slice 2G+1
    wire cut_d;
    sparse_dsp_delay #(.WIDTH(1), .DEPTH(2 * G + 2)) u_cut_skew (.clk(clk), .en(en), .d(cut), .q(cut_d));
    wire rn_cut = LAST ? 1'b1 : cut_d;

    assign cas_a = rn_cut ? {ACCW{1'b0}} : p1_a;  // cut: the next DG starts from zero (Z-mux)
    assign cas_b = rn_cut ? {ACCW{1'b0}} : p1_b;

    wire [ACCW-1:0] fin_a = rn_cut ? p1_a : {ACCW{1'b0}};
    wire [ACCW-1:0] fin_b = rn_cut ? p1_b : {ACCW{1'b0}};

    // output deskew (none for the last DG)
    sparse_dsp_delay #(.WIDTH(2 * ACCW + 1), .DEPTH(CHAIN - 2 * G - 2)) u_deskew (
        .clk(clk), .en(en), .d({rn_cut, fin_a, fin_b}), .q({emit, sum_a, sum_b})
    );
endmodule
