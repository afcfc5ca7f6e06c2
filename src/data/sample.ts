/** One labelled file of a dataset. `label` indexes the sorted class list; -1 means unlabelled. */
export interface Sample {
  path: string;
  label: number;
}
