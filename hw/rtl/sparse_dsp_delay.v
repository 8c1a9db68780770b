// sparse_dsp_delay: DEPTH-stage delay line (shift register) with a clock enable, used by the CSD-Chain's
// DSP groups to skew a reduction node's config bit to its pass and to deskew emitted sums to the pass's
// output beat. No reset on purpose: data only (valid bits travel in the chain's own reset pipeline), so
// synthesis may map it to shift-register LUTs (SRL16E/SRLC32E on UltraScale+). DEPTH = 0 is a wire.
// Latency: DEPTH enabled clock edges.
module sparse_dsp_delay #(
    parameter WIDTH = 1,
    parameter DEPTH = 0
) (
    input  wire             clk,
    input  wire             en,
    input  wire [WIDTH-1:0] d,
    output wire [WIDTH-1:0] q
);
    generate
        if (DEPTH == 0) begin : g_wire
            assign q = d;
        end else if (DEPTH == 1) begin : g_reg
            reg [WIDTH-1:0] stage;
            always @(posedge clk) begin
                if (en)
                    stage <= d;
            end
            assign q = stage;
        end else begin : g_shift
            // stage i at bits [WIDTH*i +: WIDTH]; one vector shift per enabled edge
            reg [WIDTH*DEPTH-1:0] stages;
            always @(posedge clk) begin
                if (en)
                    stages <= {stages[WIDTH*(DEPTH-1)-1:0], d};
            end
            assign q = stages[WIDTH*DEPTH-1 -: WIDTH];
        end
    endgenerate
endmodule
