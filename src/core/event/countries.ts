/**
 * The officially assigned ISO 3166-1 alpha-2 codes (249; from the ISO 3166 Maintenance
 * Agency list as published in pycountry 26.2). Reserved and user-assigned codes (EU, UK, XK,
 * AA, QM–QZ, XA–XZ, ZZ) are not country codes and are rejected.
 */
const CODES =
  'AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN ' +
  'BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ ' +
  'DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL ' +
  'GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM ' +
  'JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME ' +
  'MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP ' +
  'NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD ' +
  'SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO ' +
  'TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW';

/** All 249 codes, sorted. */
export const COUNTRY_CODES: readonly string[] = Object.freeze(CODES.trim().split(' '));

// (a - 65) * 26 + (b - 65) → index in COUNTRY_CODES, or -1: a lookup without a string
const TABLE = new Int16Array(26 * 26).fill(-1);
COUNTRY_CODES.forEach((c, i) => {
  TABLE[(c.charCodeAt(0) - 65) * 26 + (c.charCodeAt(1) - 65)] = i;
});

/**
 * The index in COUNTRY_CODES of the code spelled by upper-case code units `a` `b` (UTF-16
 * units or bytes alike), or -1 when it is not an assigned code.
 */
export function countryIndex(a: number, b: number): number {
  if (a < 65 || a > 90 || b < 65 || b > 90) return -1;
  return TABLE[(a - 65) * 26 + (b - 65)]!;
}

/** Whether `code` (upper case) is an officially assigned ISO 3166-1 alpha-2 code. */
export function isCountryCode(code: string): boolean {
  return code.length === 2 && countryIndex(code.charCodeAt(0), code.charCodeAt(1)) >= 0;
}
