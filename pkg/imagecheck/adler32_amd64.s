//go:build amd64 && !purego

#include "textflag.h"

// Byte weights of a 32-byte block for s2: the first byte counts 32 times,
// the last once.
DATA adlerWeights<>+0(SB)/8, $0x191a1b1c1d1e1f20
DATA adlerWeights<>+8(SB)/8, $0x1112131415161718
DATA adlerWeights<>+16(SB)/8, $0x090a0b0c0d0e0f10
DATA adlerWeights<>+24(SB)/8, $0x0102030405060708
GLOBL adlerWeights<>(SB), RODATA|NOPTR, $32

DATA adlerOnes<>+0(SB)/8, $0x0001000100010001
DATA adlerOnes<>+8(SB)/8, $0x0001000100010001
DATA adlerOnes<>+16(SB)/8, $0x0001000100010001
DATA adlerOnes<>+24(SB)/8, $0x0001000100010001
GLOBL adlerOnes<>(SB), RODATA|NOPTR, $32

// func adler32AVX2(p []byte, s1, s2 uint32, lanes *[16]uint32)
//
// Per 32-byte block b[0..31], with S the s1 before it:
//   s1 += sum(b)                        (Y1: VPSADBW, four 64-bit sums)
//   s2 += 32*S + sum((32-i)*b[i])       (Y3 gathers S per block, shifted
//                                        left by 5 at the end; Y2 gets the
//                                        weighted sums: VPMADDUBSW, then
//                                        VPMADDWD with ones)
TEXT ·adler32AVX2(SB), NOSPLIT, $0-40
	MOVQ p_base+0(FP), SI
	MOVQ p_len+8(FP), CX
	MOVL s1+24(FP), AX
	MOVL s2+28(FP), BX
	MOVQ lanes+32(FP), DI

	VPXOR   Y0, Y0, Y0
	VMOVD   AX, X1
	VMOVD   BX, X2
	VPXOR   Y3, Y3, Y3
	VMOVDQU adlerWeights<>(SB), Y6
	VMOVDQU adlerOnes<>(SB), Y7
	TESTQ   CX, CX
	JZ      done

loop:
	VMOVDQU    (SI), Y4
	VPADDD     Y1, Y3, Y3
	VPSADBW    Y0, Y4, Y5
	VPADDD     Y5, Y1, Y1
	VPMADDUBSW Y6, Y4, Y5
	VPMADDWD   Y7, Y5, Y5
	VPADDD     Y5, Y2, Y2
	ADDQ       $32, SI
	SUBQ       $32, CX
	JNZ        loop

done:
	VPSLLD  $5, Y3, Y3
	VPADDD  Y3, Y2, Y2
	VMOVDQU Y1, (DI)
	VMOVDQU Y2, 32(DI)
	VZEROUPPER
	RET
