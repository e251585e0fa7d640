package io.flashdjl.examples.chart;

import java.util.HashMap;
import java.util.Map;

/**
 * A 5x7 bitmap font (the classic HD44780 / Adafruit GFX shapes): each glyph is five column bytes,
 * bit 0 at the top. Upper-case letters, digits and the punctuation the charts use; anything else
 * draws as '?'.
 */
public final class Font5x7 {

    private static final Map<Character, int[]> GLYPHS = new HashMap<>();

    static {
        String chars = " !%()*+,-./0123456789:<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ[]_";
        String data = "0000000000" + "00005F0000" + "2313086462" + "001C224100" + "0041221C00" + "082A1C2A08"
                + "08083E0808" + "0050300000" + "0808080808" + "0060600000" + "2010080402"
                + "3E5149453E" + "00427F4000" + "4261514946" + "2141454B31" + "1814127F10" + "2745454539"
                + "3C4A494930" + "0171090503" + "3649494936" + "064949291E"
                + "0036360000" + "0814224100" + "1414141414" + "0041221408" + "0201510906"
                + "7E1111117E" + "7F49494936" + "3E41414122" + "7F4141221C" + "7F49494941" + "7F09090901"
                + "3E4149497A" + "7F0808087F" + "00417F4100" + "2040413F01" + "7F08142241" + "7F40404040"
                + "7F020C027F" + "7F0408107F" + "3E4141413E" + "7F09090906" + "3E4151215E" + "7F09192946"
                + "4649494931" + "01017F0101" + "3F4040403F" + "1F2040201F" + "3F4038403F" + "6314081463"
                + "0708700807" + "6151494543" + "007F414100" + "0041417F00" + "4040404040";
        for (int i = 0; i < chars.length(); i++) {
            int[] cols = new int[5];
            for (int c = 0; c < 5; c++) {
                cols[c] = Integer.parseInt(data.substring(10 * i + 2 * c, 10 * i + 2 * c + 2), 16);
            }
            GLYPHS.put(chars.charAt(i), cols);
        }
    }

    private Font5x7() {}

    public static int[] glyph(char c) {
        return GLYPHS.getOrDefault(c, GLYPHS.get('?'));
    }
}
