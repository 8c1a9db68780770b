// mesh_pe: one processing element of the MeshGEMM array (mesh_array.v; spec wafer_mesh.md 4.2-4.5).
//
// Storage (spec 4.5, double-buffered like the released kernel's X_0/X_1, W_0/W_1, res):
//   a_cur, b_cur   the T x T int8 A and B tiles the MAC works on, element (i, j) at bits [(i*T+j)*8 +: 8]
//   a_nxt, b_nxt   receive buffers: the tile that lands during a shift, copied to *_cur at the step barrier
//   c              the T x T int32 output-stationary accumulator, element (i, j) at bits [(i*T+j)*32 +: 32]
//   relay registers, one per axis and direction: a_rly_e / a_rly_w hold the A tile of a west / east
//                  neighbour that is passing through this PE to the PE two hops east / west (INTERLEAVE
//                  two-hop ring edge, spec 4.3); b_rly_s / b_rly_n the same for B along Y.
//
// Datapath: one signed int8 x int8 MAC into a 32-bit accumulator, one MAC per cycle (c_gemm = 1): a tile
// product C += A x B takes T^3 cycles, MAC (i, j, k) doing c[i][j] += a[i][k] * b[k][j].
//
// Control (all from mesh_array's controller, every PE in lock-step; no handshakes inside the array):
//   ld_en/ld_b/ld_e/ld_data  write element ld_e of the A (ld_b = 0) or B (ld_b = 1) tile into a_cur / b_cur
//   rly_en                   hop 1 of a shift: every relay register latches its neighbour's current tile
//   a_land_en / a_land       a tile lands in a_nxt (from a 1-hop neighbour in hop 1, from the intermediate
//                            PE's relay register in hop 2)
//   a_swap                   step barrier: a_cur <= the landed tile (a_land itself when it lands in the
//                            same cycle: a forwarding path, so no barrier cycle is added)
//   mac_en/mac_i/mac_j/mac_k one MAC; c_clr clears c (held high during the array's load phase)
//   dr_i/dr_j                selects the C element (dr_i, dr_j) on c_out (the array's drain mux)
// Latency: a load write, relay latch, landing, swap or MAC takes effect at the next rising edge.
// Index ports are 8 bits wide: T <= 15.
module mesh_pe #(
    parameter T = 2   // tile side: T x T elements of A, B and C per PE
) (
    input  wire                  clk,
    // load port (broadcast by the array, one element per cycle)
    input  wire                  ld_en,
    input  wire                  ld_b,
    input  wire [7:0]            ld_e,
    input  wire [7:0]            ld_data,
    // neighbour tiles for the relay registers (hop 1 of a two-hop move)
    input  wire                  rly_en,
    input  wire [T*T*8-1:0]      a_from_w,   // west neighbour's a_cur  -> a_rly_e (stream moving east)
    input  wire [T*T*8-1:0]      a_from_e,   // east neighbour's a_cur  -> a_rly_w (stream moving west)
    input  wire [T*T*8-1:0]      b_from_n,   // north neighbour's b_cur -> b_rly_s (stream moving south)
    input  wire [T*T*8-1:0]      b_from_s,   // south neighbour's b_cur -> b_rly_n (stream moving north)
    // landing tiles and the step barrier
    input  wire                  a_land_en,
    input  wire [T*T*8-1:0]      a_land,
    input  wire                  a_swap,
    input  wire                  b_land_en,
    input  wire [T*T*8-1:0]      b_land,
    input  wire                  b_swap,
    // MAC
    input  wire                  c_clr,
    input  wire                  mac_en,
    input  wire [7:0]            mac_i,
    input  wire [7:0]            mac_j,
    input  wire [7:0]            mac_k,
    // drain
    input  wire [7:0]            dr_i,
    input  wire [7:0]            dr_j,
    output wire [31:0]           c_out,
    // tiles seen by the neighbours
    output reg  [T*T*8-1:0]      a_cur,
    output reg  [T*T*8-1:0]      b_cur,
    output reg  [T*T*8-1:0]      a_rly_e,
    output reg  [T*T*8-1:0]      a_rly_w,
    output reg  [T*T*8-1:0]      b_rly_s,
    output reg  [T*T*8-1:0]      b_rly_n
);
    reg [T*T*8-1:0]  a_nxt;
    reg [T*T*8-1:0]  b_nxt;
    reg [T*T*32-1:0] c;

    assign c_out = c[(dr_i * T + dr_j) * 32 +: 32];

    // ---------------- MAC: c[i][j] += a[i][k] * b[k][j] ----------------
    wire signed [7:0]  a_el = a_cur[(mac_i * T + mac_k) * 8 +: 8];
    wire signed [7:0]  b_el = b_cur[(mac_k * T + mac_j) * 8 +: 8];
    wire signed [15:0] prod = a_el * b_el;
    wire [7:0]         c_idx = mac_i * T + mac_j;
    wire [31:0]        c_el = c[c_idx * 32 +: 32];

    always @(posedge clk) begin
        if (c_clr)
            c <= {T*T*32{1'b0}};
        else if (mac_en)
            c[c_idx * 32 +: 32] <= c_el + {{16{prod[15]}}, prod};
    end

    // ---------------- tiles: load, land, barrier swap ----------------
    // at the barrier *_cur takes the landed tile, forwarded when it lands in the barrier cycle itself
    always @(posedge clk) begin
        if (ld_en && !ld_b)
            a_cur[ld_e * 8 +: 8] <= ld_data;
        else if (a_swap)
            a_cur <= a_land_en ? a_land : a_nxt;
        if (a_land_en)
            a_nxt <= a_land;

        if (ld_en && ld_b)
            b_cur[ld_e * 8 +: 8] <= ld_data;
        else if (b_swap)
            b_cur <= b_land_en ? b_land : b_nxt;
        if (b_land_en)
            b_nxt <= b_land;
    end

    // ---------------- relay registers: the pass-through stage of a two-hop move ----------------
    always @(posedge clk) begin
        if (rly_en) begin
            a_rly_e <= a_from_w;
            a_rly_w <= a_from_e;
            b_rly_s <= b_from_n;
            b_rly_n <= b_from_s;
        end
    end
endmodule
