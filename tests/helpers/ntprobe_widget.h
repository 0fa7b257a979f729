#pragma once

namespace ntprobe {

class Widget {
 public:
  int spin(int turn);
  long spin(long turn);  // an overload: "ntprobe::Widget::spin" names both
  long turns() const { return turns_; }

 private:
  long turns_ = 0;
};

}  // namespace ntprobe
